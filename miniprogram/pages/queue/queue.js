// A queue campaign (Shanghai), every state of it: a household registers for a pharmacy
// (none chosen for it); the committee's review, and after a refusal its reason and a new
// registration; once approved, its place in that pharmacy's queue and the pharmacy's
// releases so far; the voucher with its QR, expiry and the pharmacy's name, address and
// hours; and the voucher used.
const { request, download } = require('../../utils/request')
const page = require('../../behaviors/page')
const subscribe = require('../../utils/subscribe')
const entries = require('../../utils/entries')

// The voucher comes with the day's supply, days later: its message is asked for now.
const REGISTER_MESSAGES = ['voucher_released']
const SEARCH_FROM = 8

Component({
  behaviors: [page],
  data: {
    campaign: null, entry: null, history: [], canEnter: false,
    formOpen: false, stores: [], shownStores: [], storeId: null, storeQuery: '', searchable: false,
    busy: false, refusal: '', qr: '',
  },
  methods: {
    async fetch() {
      const [campaign, mine, found] = await Promise.all([
        request({ path: `/campaigns/${this.campaignId}`, auth: false }),
        request({ path: '/me/entries' }),
        request({ path: `/campaigns/${this.campaignId}/stores?limit=200`, auth: false }),
        subscribe.load(),
      ])
      this.setData({ campaign, stores: found.stores, searchable: found.stores.length > SEARCH_FROM })
      this.filterStores(this.data.storeQuery)
      await this.show(mine.entries)
    },

    async show(all) {
      const shown = entries.standing(all, this.campaignId)
      // The form is open for a first registration and after a refusal; after a round that
      // ended (bought, or the voucher lapsed) the next one is a tap away.
      const formOpen = !shown.entry || shown.entry.status === 'rejected'
      this.setData({ ...shown, formOpen, qr: '' })
      if (shown.entry && shown.entry.status === 'released') {
        try {
          this.setData({ qr: await download(`/entries/${shown.entry.id}/voucher.png`) })
        } catch (error) {
          this.setData({ qr: '' }) // the code itself is enough at the counter
        }
      }
    },

    openForm() {
      this.setData({ formOpen: true })
    },

    chooseStore(event) {
      this.setData({ storeId: Number(event.detail.value), refusal: '' })
    },

    searchStores(event) {
      this.setData({ refusal: '' })
      this.filterStores(event.detail.value || '')
    },

    filterStores(query) {
      const words = query.trim()
      this.setData({
        storeQuery: query,
        shownStores: words
          ? this.data.stores.filter((s) => s.name.includes(words) || s.address.includes(words) || s.district.includes(words))
          : this.data.stores,
      })
    },

    async register() {
      if (this.data.busy) return
      if (!this.data.storeId) {
        this.setData({ refusal: '请先选择一家药店' })
        return
      }
      subscribe.ask(REGISTER_MESSAGES)
      this.setData({ busy: true, refusal: '' })
      try {
        await request({ path: `/campaigns/${this.campaignId}/entries`, method: 'POST', data: { store_id: this.data.storeId } })
        this.setData({ storeId: null })
        await this.show((await request({ path: '/me/entries' })).entries)
      } catch (error) {
        if (['profile_incomplete', 'promise_required'].includes(error.code)) {
          wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.campaignId}` })
        }
        this.setData({ refusal: error.message })
      } finally {
        this.setData({ busy: false })
      }
    },

    map() {
      const place = this.data.entry && this.data.entry.pharmacy
      const store = place && this.data.stores.find((s) => s.id === place.id)
      if (store) wx.openLocation({ latitude: store.lat, longitude: store.lng, name: store.name, address: store.address })
    },
  },
})
