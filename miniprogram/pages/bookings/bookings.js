// The resident's bookings, newest first.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')
const format = require('../../utils/format')
const status = require('../../utils/status')
const care = require('../../utils/care')

Component({
  behaviors: [page],
  data: { bookings: [] },
  methods: {
    onShow() {
      // Care mode may have been switched on the home page meanwhile (the page behaviour's
      // own onShow, which this one replaces), and a booking may have been cancelled.
      this.setData({ care: care.on() })
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
