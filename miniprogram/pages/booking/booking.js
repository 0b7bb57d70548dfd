// One booking: the pickup code and its QR (downloaded with the resident's token, since an
// <image> cannot send it), the store with a map link, the pickup time; cancel with a
// confirmation.
const { request, download } = require('../../utils/request')
const page = require('../../behaviors/page')
const format = require('../../utils/format')
const status = require('../../utils/status')

Component({
  behaviors: [page],
  data: {
    booking: null, pickupText: '', qr: '',
    qrMessage: '', fresh: false, cancelling: false,
  },
  methods: {
    async fetch(query) {
      this.bookingId = Number(query.id)
      this.setData({ fresh: query.new === '1' })
      const booking = await request({ path: `/bookings/${this.bookingId}` })
      this.setData({
        booking: { ...booking, ...status.describe(booking.status) },
        pickupText: format.span(booking.pickup.starts_at, booking.pickup.ends_at),
      })
      if (booking.status === 'confirmed') await this.loadQr()
    },

    async loadQr() {
      try {
        this.setData({ qr: await download(`/bookings/${this.bookingId}/qrcode.png`) })
      } catch (error) {
        this.setData({ qr: '', qrMessage: '二维码暂时无法显示，可出示取货码' })
      }
    },

    map() {
      const store = this.data.booking.store
      if (store.lat === null || store.lat === undefined) return
      wx.openLocation({ latitude: store.lat, longitude: store.lng, name: store.name, address: store.address, scale: 16 })
    },

    cancel() {
      wx.showModal({
        title: '取消预约',
        content: '取消后这份口罩会退回给其他人，确定取消吗？',
        confirmText: '确定取消',
        cancelText: '不取消',
        success: async ({ confirm }) => {
          if (!confirm) return
          this.setData({ cancelling: true })
          try {
            const booking = await request({ path: `/bookings/${this.bookingId}/cancel`, method: 'POST' })
            this.setData({ booking: { ...booking, ...status.describe(booking.status) }, qr: '' })
            wx.showToast({ title: '已取消', icon: 'success' })
          } catch (error) {
            wx.showToast({ title: error.message, icon: 'none' })
          } finally {
            this.setData({ cancelling: false })
          }
        },
      })
    },
  },
})
