// A lottery campaign (Fuzhou), every round of it: enter and get the 8-digit number; the
// draw one is in, and one's rank once it is drawn (the public draw opens inside the
// mini-program); a win claimed before its deadline, by home delivery or at a collection
// point (neither chosen for the resident), each with its fee; the order on its way with
// its tracking number; and after a win, when one may enter the next draw, then the button.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')
const subscribe = require('../../utils/subscribe')
const entries = require('../../utils/entries')

// A win has 48 hours to be claimed: the message that says so is asked for at entering.
const ENTRY_MESSAGES = ['draw_won']
// A long list of collection points gets a search box.
const SEARCH_FROM = 8

Component({
  behaviors: [page],
  data: {
    campaign: null, entry: null, history: [], canEnter: false, reenterText: '', drawText: '',
    fulfilment: '', points: [], shownPoints: [], pointId: null, pointQuery: '', searchable: false,
    busy: false, refusal: '', claimError: '',
  },
  methods: {
    async fetch() {
      const [campaign, mine] = await Promise.all([
        request({ path: `/campaigns/${this.campaignId}`, auth: false }),
        request({ path: '/me/entries' }),
        subscribe.load(),
      ])
      const draws = campaign.rules.lottery || {}
      this.setData({
        campaign,
        drawText: draws.scheduled
          ? `每${draws.draw_every_days}天 ${draws.commit_at} 封存名单，${draws.draw_after_minutes}分钟后公开摇号`
          : draws.draw_every_days ? `每${draws.draw_every_days}天摇号一次` : '',
      })
      this.show(mine.entries)
      if (campaign.rules.fulfilment.includes('collection_point') && !this.data.points.length) {
        const found = await request({ path: `/campaigns/${this.campaignId}/stores?limit=200`, auth: false })
        this.setData({ points: found.stores, searchable: found.stores.length > SEARCH_FROM })
        this.filterPoints(this.data.pointQuery)
      }
    },

    show(all) {
      this.setData(entries.standing(all, this.campaignId))
    },

    async reload() {
      this.show((await request({ path: '/me/entries' })).entries)
    },

    async enter() {
      if (this.data.busy) return
      subscribe.ask(ENTRY_MESSAGES)
      this.setData({ busy: true, refusal: '' })
      try {
        await request({ path: `/campaigns/${this.campaignId}/entries`, method: 'POST' })
        await this.reload()
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
      const chosen = this.data.entry.options.find((o) => o.fulfilment === event.detail.value)
      // A way that cannot be used stays unchosen; the note under it already says why.
      if (!chosen || !chosen.available) return
      this.setData({ fulfilment: chosen.fulfilment, claimError: '' })
    },

    choosePoint(event) {
      this.setData({ pointId: Number(event.detail.value), claimError: '' })
    },

    searchPoints(event) {
      this.setData({ claimError: '' })
      this.filterPoints(event.detail.value || '')
    },

    filterPoints(query) {
      const words = query.trim()
      this.setData({
        pointQuery: query,
        shownPoints: words
          ? this.data.points.filter((p) => p.name.includes(words) || p.address.includes(words) || p.district.includes(words))
          : this.data.points,
      })
    },

    async claim() {
      if (this.data.busy) return
      const { fulfilment, pointId } = this.data
      if (!fulfilment) {
        this.setData({ claimError: '请先选择领取方式' })
        return
      }
      const data = { fulfilment }
      if (fulfilment === 'collection_point') {
        if (!pointId) {
          this.setData({ claimError: '请选择一个自提点' })
          return
        }
        data.store_id = pointId
      }
      this.setData({ busy: true, claimError: '' })
      try {
        await request({ path: `/entries/${this.data.entry.id}/claim`, method: 'POST', data })
        await this.reload()
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

    openDraw() {
      const draw = this.data.entry && this.data.entry.draw
      if (draw) wx.navigateTo({ url: `/pages/draw/draw?id=${draw.id}&campaign=${this.campaignId}` })
    },
  },
})
