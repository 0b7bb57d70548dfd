// One tap, one booking. The tap makes an Idempotency-Key; every retry of that tap (after a
// network error, or `busy` with its visible countdown) sends the same key, so the server
// gives back the first answer instead of booking twice. Each refusal has its own screen.
// When the campaign has a waiting room, the tap first queues (utils/room.js): the page
// shows the place, the people ahead and the wait, and books as soon as it is admitted.
const { request, newKey } = require('../../utils/request')
const subscribe = require('../../utils/subscribe')
const { screenFor } = require('../../utils/refusals')
const room = require('../../utils/room')
const page = require('../../behaviors/page')
const format = require('../../utils/format')

const NETWORK_RETRIES = 2
const ADMISSION_REFUSED = ['not_admitted', 'admission_expired', 'admission_invalid']
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// The messages a booking brings, asked for at the moment of booking (utils/subscribe.js).
const BOOKING_MESSAGES = ['booking_confirmed', 'pickup_reminder']

Component({
  behaviors: [page],
  data: {
    campaign: null, store: {}, portion: '', price: '',
    slots: [], slot: 0, submitting: false, waiting: 0, retrying: false, refusal: null,
    room: null,
  },
  lifetimes: {
    detached() {
      this.gone = true
    },
  },
  methods: {
    async fetch(query) {
      this.storeId = Number(query.store)
      this.setData({ refusal: null })
      const [campaign, found] = await Promise.all([
        request({ path: `/campaigns/${this.campaignId}`, auth: false }),
        request({ path: `/campaigns/${this.campaignId}/stores?limit=200`, auth: false }),
        subscribe.load(),
      ])
      const store = found.stores.find((s) => s.id === this.storeId)
      if (!store) throw new Error('这家药店不在本活动中')
      const portion = campaign.rules.portion
      this.setData({
        campaign, store, slots: campaign.rules.pickup.slots,
        portion: `${portion.item} ${portion.items}个`,
        price: `${format.yuan(portion.unit_price_fen)}元`,
      })
    },

    chooseSlot(event) {
      this.setData({ slot: Number(event.detail.value) })
    },

    async book() {
      if (this.data.submitting) return
      subscribe.ask(BOOKING_MESSAGES)
      const key = newKey() // once per tap
      this.setData({ submitting: true, refusal: null })
      try {
        const admission = this.data.campaign.waiting_room ? await this.queue() : undefined
        const made = await this.attempt(key, admission)
        wx.redirectTo({ url: `/pages/booking/booking?id=${made.id}&new=1` })
      } catch (error) {
        if (error.code === 'left') return
        if (error.code === 'rules_changed') await this.refreshRules()
        this.setData({ refusal: { ...screenFor(error), code: error.code }, room: null })
      } finally {
        this.setData({ submitting: false, waiting: 0, retrying: false })
      }
    },

    // The waiting room, until this resident's turn: answers the admission.
    queue() {
      return room.queue(this.campaignId, {
        show: (shown) => this.setData({ room: shown }),
        gone: () => this.gone,
      })
    },

    // The same request, with the same key, until it is answered (or refused for good).
    async attempt(key, admission) {
      let networkTries = 0
      let requeued = false
      for (;;) {
        try {
          return await request({
            path: `/campaigns/${this.campaignId}/bookings`,
            method: 'POST',
            header: { 'Idempotency-Key': key },
            data: { store_id: this.storeId, pickup_slot: this.data.slot, rules_version: this.data.campaign.rules_version, admission },
          })
        } catch (error) {
          if (this.gone) throw error
          if (ADMISSION_REFUSED.includes(error.code) && !requeued) {
            // The admission ran out (a slow network, a long pause): the place is kept, so
            // asking the room again gives a fresh one at once.
            requeued = true
            admission = await this.queue()
          } else if (error.code === 'network' && networkTries < NETWORK_RETRIES) {
            networkTries += 1
            this.setData({ retrying: true })
            await sleep(1000)
          } else if (error.code === 'busy' || error.code === 'admission_not_yet') {
            await this.wait(Math.max(1, error.retryAfter || 1))
          } else {
            throw error
          }
        }
      }
    },

    async wait(seconds) {
      for (let left = seconds; left > 0 && !this.gone; left -= 1) {
        this.setData({ waiting: left })
        await sleep(1000)
      }
      this.setData({ waiting: 0 })
    },

    // After `rules_changed`: the campaign as it is now, so the next tap books under it.
    async refreshRules() {
      try {
        const campaign = await request({ path: `/campaigns/${this.campaignId}`, auth: false })
        this.setData({ campaign, slots: campaign.rules.pickup.slots })
      } catch (error) {
        // the refusal screen still says what happened; the next tap tries again
      }
    },

    otherStore() {
      wx.navigateBack()
    },
    myBookings() {
      wx.redirectTo({ url: '/pages/bookings/bookings' })
    },
    profile() {
      wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.campaignId}` })
    },
    home() {
      wx.reLaunch({ url: `/pages/index/index?campaign=${this.campaignId}` })
    },
  },
})
