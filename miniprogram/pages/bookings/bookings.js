// The resident's bookings, newest first.
const { request } = require('../../utils/request')
const care = require('../../utils/care')
const format = require('../../utils/format')
const status = require('../../utils/status')

Component({
  data: { state: 'loading', message: '', care: false, bookings: [] },
  methods: {
    onLoad() {
      this.setData({ care: care.on() })
      return this.load()
    },

    onShow() {
      if (this.data.state === 'ready') this.load()
    },

    async load() {
      this.setData({ state: 'loading' })
      try {
        const { bookings } = await request({ path: '/me/bookings' })
        this.setData({
          state: bookings.length ? 'ready' : 'empty',
          message: '还没有预约。活动开放时，在首页选择药店即可预约。',
          bookings: bookings.map((b) => ({
            ...b, ...status.describe(b.status), pickupText: format.span(b.pickup.starts_at, b.pickup.ends_at),
          })),
        })
      } catch (error) {
        this.setData({ state: 'error', message: error.message })
      }
    },

    open(event) {
      wx.navigateTo({ url: `/pages/booking/booking?id=${event.currentTarget.dataset.id}` })
    },
  },
})
