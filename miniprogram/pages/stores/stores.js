// Stores nearest first from wx.getLocation; if the resident declines, the list by district
// with a search box. Each store shows what is left in the current window.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')

function locate() {
  return new Promise((resolve) => {
    wx.getLocation({
      type: 'gcj02',
      success: ({ latitude, longitude }) => resolve({ lat: latitude, lng: longitude }),
      fail: () => resolve(null),
    })
  })
}

function distanceText(metres) {
  if (metres === null || metres === undefined) return ''
  return metres < 1000 ? `${metres}米` : `${(metres / 1000).toFixed(1)}公里`
}

Component({
  behaviors: [page],
  data: { located: false, query: '', groups: [] },
  methods: {
    async fetch() {
      const where = await locate()
      const params = where ? `lat=${where.lat}&lng=${where.lng}&limit=50` : 'limit=200'
      const found = await request({ path: `/campaigns/${this.campaignId}/stores?${params}`, auth: false })
      this.stores = found.stores.map((s) => ({
        ...s,
        distanceText: distanceText(s.distance_m),
        leftText: `${s.left === null ? '' : s.left > 0 ? `剩 ${s.left} 份` : '已约满'} ›`,
      }))
      this.setData({ located: !!where })
      this.render()
    },

    render() {
      const words = this.data.query.trim()
      const matching = this.stores.filter((s) => !words
        || [s.name, s.address, s.district].some((text) => (text || '').includes(words)))
      let groups
      if (this.data.located) {
        groups = matching.length ? [{ name: '离您最近', stores: matching }] : []
      } else {
        const byDistrict = new Map()
        for (const store of matching) {
          const name = store.district || '其他'
          if (!byDistrict.has(name)) byDistrict.set(name, [])
          byDistrict.get(name).push(store)
        }
        groups = [...byDistrict.entries()].map(([name, stores]) => ({ name, stores }))
      }
      this.setData({ groups })
    },

    search(event) {
      this.setData({ query: event.detail.value })
      this.render()
    },

    pick(event) {
      const id = event.currentTarget.dataset.id
      wx.navigateTo({ url: `/pages/book/book?campaign=${this.campaignId}&store=${id}` })
    },
  },
})
