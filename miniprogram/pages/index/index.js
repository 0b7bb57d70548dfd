// Start and campaign home: silent login, the rules summary, the window open now with what
// is left, a countdown (by the server's clock) to the next opening, and announcements.
const { request } = require('../../utils/request')
const clock = require('../../utils/clock')
const page = require('../../behaviors/page')
const care = require('../../utils/care')
const format = require('../../utils/format')

Component({
  behaviors: [page],
  data: {
    campaigns: [], campaign: null,
    announcements: [], windowText: '', windowLeft: null, nextText: '', countdown: '',
    profileNote: '',
  },
  lifetimes: {
    detached() {
      clearInterval(this.timer)
    },
  },
  methods: {
    async fetch() {
      const [{ campaigns }, profile] = await Promise.all([
        request({ path: '/campaigns', auth: false }),
        request({ path: '/me/profile' }),
      ])
      if (!campaigns.length) return { empty: '目前没有进行中的活动' }
      this.setData({
        campaigns,
        profileNote: profile.profile_complete ? `已登记 ${profile.name}` : '未登记，去登记',
      })
      await this.show(campaigns.find((c) => c.id === this.campaignId) || campaigns[0])
      return {}
    },

    async show(campaign) {
      const [{ announcements }, stores] = await Promise.all([
        request({ path: `/announcements?campaign_id=${campaign.id}`, auth: false }),
        campaign.allocation === 'fcfs'
          ? request({ path: `/campaigns/${campaign.id}/stores?limit=1`, auth: false })
          : Promise.resolve({ window_left: null }),
      ])
      const current = campaign.current_window
      this.setData({
        campaign,
        announcements,
        windowText: current ? format.span(current.opens_at, current.closes_at) : '',
        windowLeft: current ? stores.window_left : null,
        nextText: campaign.next_window ? format.moment(campaign.next_window.opens_at) : '',
      })
      this.tick()
      clearInterval(this.timer)
      this.timer = setInterval(() => this.tick(), 1000)
    },

    tick() {
      const next = this.data.campaign && this.data.campaign.next_window
      if (!next) return
      this.setData({ countdown: clock.until(next.opens_at) })
      if (clock.now() >= Date.parse(next.opens_at)) {
        clearInterval(this.timer)
        this.load() // the window has opened: show it
      }
    },

    choose(event) {
      const campaign = this.data.campaigns.find((c) => c.id === event.currentTarget.dataset.id)
      if (campaign) this.show(campaign)
    },

    toggleCare(event) {
      care.set(event.detail.value)
      this.setData({ care: care.on() })
    },


    goBook() {
      wx.navigateTo({ url: `/pages/stores/stores?campaign=${this.data.campaign.id}` })
    },
    goLottery() {
      wx.navigateTo({ url: `/pages/lottery/lottery?campaign=${this.data.campaign.id}` })
    },
    goQueue() {
      wx.navigateTo({ url: `/pages/queue/queue?campaign=${this.data.campaign.id}` })
    },
    goBookings() {
      wx.navigateTo({ url: '/pages/bookings/bookings' })
    },
    goProfile() {
      wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.data.campaign.id}` })
    },
  },
})
