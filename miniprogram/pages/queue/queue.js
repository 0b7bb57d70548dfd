// A queue campaign (Shanghai): a household registers for a pharmacy; the committee's review
// (and the reason for a refusal); the voucher with its QR and expiry once supply arrives.
const { request, download } = require('../../utils/request')
const page = require('../../behaviors/page')
const entries = require('../../utils/entries')

Component({
  behaviors: [page],
  data: { campaign: null, entry: null, stores: [], storeId: null, busy: false, refusal: '', qr: '' },
  methods: {
    async fetch() {
      const [campaign, mine, found] = await Promise.all([
        request({ path: `/campaigns/${this.campaignId}`, auth: false }),
        request({ path: '/me/entries' }),
        request({ path: `/campaigns/${this.campaignId}/stores?limit=200`, auth: false }),
      ])
      this.setData({ campaign, stores: found.stores, storeId: this.data.storeId || (found.stores[0] && found.stores[0].id) })
      await this.show(mine.entries.find((e) => e.campaign_id === this.campaignId && e.status !== 'withdrawn'))
    },

    async show(entry) {
      this.setData({ entry: entry ? entries.describe(entry) : null, qr: '' })
      if (entry && entry.status === 'released') {
        try {
          this.setData({ qr: await download(`/entries/${entry.id}/voucher.png`) })
        } catch (error) {
          this.setData({ qr: '' }) // the code itself is enough at the counter
        }
      }
    },

    chooseStore(event) {
      this.setData({ storeId: Number(event.detail.value) })
    },

    async register() {
      this.setData({ busy: true, refusal: '' })
      try {
        const entry = await request({ path: `/campaigns/${this.campaignId}/entries`, method: 'POST', data: { store_id: this.data.storeId } })
        await this.show(entry)
      } catch (error) {
        if (['profile_incomplete', 'promise_required'].includes(error.code)) {
          wx.navigateTo({ url: `/pages/profile/profile?campaign=${this.campaignId}` })
        }
        this.setData({ refusal: error.message })
      } finally {
        this.setData({ busy: false })
      }
    },
  },
})
