// Everything the resident holds, newest first: bookings, lottery entries and queue
// registrations, each leading to its own page.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')
const format = require('../../utils/format')
const status = require('../../utils/status')
const care = require('../../utils/care')
const entries = require('../../utils/entries')

Component({
  behaviors: [page],
  data: { bookings: [], draws: [], queues: [] },
  methods: {
    onShow() {
      // Care mode may have been switched on the home page meanwhile (the page behaviour's
      // own onShow, which this one replaces), and a booking may have been cancelled.
      this.setData({ care: care.on() })
      if (this.data.state === 'ready') this.load()
    },

    async fetch() {
      const [{ bookings }, mine] = await Promise.all([
        request({ path: '/me/bookings' }),
        request({ path: '/me/entries' }),
      ])
      const described = mine.entries.filter((e) => e.status !== 'withdrawn').map(entries.describe)
      this.setData({
        bookings: bookings.map((b) => ({
          ...b, ...status.describe(b.status), pickupText: format.span(b.pickup.starts_at, b.pickup.ends_at),
        })),
        draws: described.filter((e) => !e.pharmacy),
        queues: described.filter((e) => e.pharmacy),
      })
      return bookings.length || described.length ? {} : { empty: '还没有预约或登记。活动开放时，在首页选择活动即可预约、参加摇号或排队登记。' }
    },

    open(event) {
      wx.navigateTo({ url: `/pages/booking/booking?id=${event.currentTarget.dataset.id}` })
    },

    openEntry(event) {
      const { campaign, kind } = event.currentTarget.dataset
      wx.navigateTo({ url: `/pages/${kind}/${kind}?campaign=${campaign}` })
    },
  },
})
