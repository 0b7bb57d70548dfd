// A lottery campaign (Fuzhou): enter, the 8-digit number, the draw times, the result, the
// claim with its delivery choice before the deadline, and the public draw page.
const { request } = require('../../utils/request')
const { baseUrl } = require('../../config')
const page = require('../../behaviors/page')
const entries = require('../../utils/entries')

Component({
  behaviors: [page],
  data: {
    campaign: null, entry: null, drawText: '',
    drawLink: '', fulfilments: [], fulfilment: '', points: [], pointId: null, busy: false,
    refusal: '', claimError: '',
  },
  methods: {
    async fetch() {
      const [campaign, mine] = await Promise.all([
        request({ path: `/campaigns/${this.campaignId}`, auth: false }),
        request({ path: '/me/entries' }),
      ])
      const draws = campaign.rules.lottery || {}
      const fulfilments = campaign.rules.fulfilment.map((value) => ({ value, label: entries.FULFILMENT[value] || value }))
      this.setData({
        campaign,
        fulfilments,
        fulfilment: this.data.fulfilment || fulfilments[0].value,
        drawText: draws.scheduled
          ? `每${draws.draw_every_days}天 ${draws.commit_at} 封存名单，${draws.draw_after_minutes}分钟后公开摇号`
          : draws.draw_every_days ? `每${draws.draw_every_days}天摇号一次` : '',
      })
      this.show(mine.entries.find((e) => e.campaign_id === this.campaignId && e.status !== 'withdrawn'))
      if (campaign.rules.fulfilment.includes('collection_point')) {
        const found = await request({ path: `/campaigns/${this.campaignId}/stores?limit=200`, auth: false })
        this.setData({ points: found.stores, pointId: this.data.pointId || (found.stores[0] && found.stores[0].id) })
      }
    },

    show(entry) {
      this.setData({
        entry: entry ? entries.describe(entry) : null,
        drawLink: entry && entry.draw_id
          ? `${baseUrl()}/public/draws/${entry.draw_id}?reservation_no=${entry.reservation_no}` : '',
      })
    },

    async enter() {
      this.setData({ busy: true, refusal: '' })
      try {
        this.show(await request({ path: `/campaigns/${this.campaignId}/entries`, method: 'POST' }))
      } catch (error) {
        if (error.code === 'profile_incomplete' || error.code === 'promise_required') {
          wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.campaignId}` })
        }
        this.setData({ refusal: error.message })
      } finally {
        this.setData({ busy: false })
      }
    },

    chooseFulfilment(event) {
      this.setData({ fulfilment: event.detail.value, claimError: '' })
    },

    choosePoint(event) {
      this.setData({ pointId: Number(event.detail.value) })
    },

    async claim() {
      const data = { fulfilment: this.data.fulfilment }
      if (data.fulfilment === 'collection_point') data.store_id = this.data.pointId
      this.setData({ busy: true, claimError: '' })
      try {
        this.show(await request({ path: `/entries/${this.data.entry.id}/claim`, method: 'POST', data }))
        wx.showToast({ title: '下单成功', icon: 'success' })
      } catch (error) {
        if (error.code === 'address_required') {
          wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.campaignId}` })
        }
        this.setData({ claimError: error.message })
      } finally {
        this.setData({ busy: false })
      }
    },

    copyLink() {
      wx.setClipboardData({ data: this.data.drawLink })
    },
  },
})
