// A page's loading, error and empty states, the same on every page; "重试" asks the page
// to load again.
Component({
  properties: {
    state: { type: String, value: 'loading' },
    message: { type: String, value: '' },
  },
  methods: {
    retry() {
      this.triggerEvent('retry')
    },
  },
})
