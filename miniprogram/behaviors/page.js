// What every page shares: its loading, error and empty states, care mode, and the campaign
// it is about (`?campaign=`). A page writes `fetch(query)`; `load` (also what the state
// component's "重试" calls) runs it and shows the outcome. `fetch` answers
// `{ empty: '说明' }` when there is nothing to show.
const care = require('../utils/care')

module.exports = Behavior({
  data: { state: 'loading', message: '', care: false },
  methods: {
    onLoad(query = {}) {
      this.query = query
      this.campaignId = Number(query.campaign) || null
      this.setData({ care: care.on() })
      return this.load()
    },

    onShow() {
      this.setData({ care: care.on() })
    },

    async load() {
      this.setData({ state: 'loading' })
      try {
        const outcome = (await this.fetch(this.query || {})) || {}
        this.setData({ state: outcome.empty ? 'empty' : 'ready', message: outcome.empty || '' })
      } catch (error) {
        this.setData({ state: 'error', message: error.message })
      }
    },
  },
})
