// The resident's bookings, newest first.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')
const format = require('../../utils/format')
const status = require('../../utils/status')

Component({
  behaviors: [page],
  data: { bookings: [] },
  methods: {
    onShow() {
      // back from a booking that was cancelled: show it as it is now
      if (this.data.state === 'ready') this.load()
    },

    async fetch() {
      const { bookings } = await request({ path: '/me/bookings' })
      this.setData({
        bookings: bookings.map((b) => ({
          ...b, ...status.describe(b.status), pickupText: format.span(b.pickup.starts_at, b.pickup.ends_at),
        })),
      })
      return bookings.length ? {} : { empty: '还没有预约。活动开放时，在首页选择药店即可预约。' }
    },

    open(event) {
      wx.navigateTo({ url: `/pages/booking/booking?id=${event.currentTarget.dataset.id}` })
    },
  },
})
