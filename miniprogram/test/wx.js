// The WeChat runtime for tests: what the phone and WeChat's servers would do. Storage is
// in memory; wx.request and wx.downloadFile make real HTTP calls (to the real backend in
// the end-to-end tests); wx.login hands out a `dev-<name>` code the fake WeChat API on the
// backend's side accepts. Tests may make the network fail once, answer a location request,
// or record where a page navigated — the outside world, never our own code.
const fs = require('fs')
const http = require('http')
const https = require('https')
const os = require('os')
const path = require('path')

// jsdom has no fetch: a plain Node HTTP call, answering {status, headers, body (Buffer)}.
function httpCall(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http
    const sized = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }
    const req = client.request(url, { method, headers: sized }, (res) => {
      const chunks = []
      res.on('data', (chunk) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    req.setTimeout(30000, () => req.destroy(new Error('timeout')))
    if (body !== undefined) req.write(body)
    req.end()
  })
}

const runtime = {
  user: 'mp-resident',
  storage: new Map(),
  navigations: [],
  toasts: [],
  modals: [],
  modalAnswer: true,
  location: null, // {latitude, longitude}, or null: the resident declines
  subscribeAnswer: 'accept',
  subscribeRequests: [],
  requests: [],
  faults: [], // [{match: RegExp, times, kind: 'network'|'response', status, data}]
  openedLocations: [],
  clipboard: null,
  updateReady: null,
  reset() {
    this.storage.clear()
    this.navigations = []
    this.toasts = []
    this.modals = []
    this.requests = []
    this.faults = []
    this.subscribeRequests = []
    this.openedLocations = []
    this.modalAnswer = true
    this.location = null
  },
  failNext(match, fault) {
    this.faults.push({ match, times: 1, ...fault })
  },
}

function fault(url) {
  const found = runtime.faults.find((f) => f.times > 0 && f.match.test(url))
  if (found) found.times -= 1
  return found
}

// Header names as WeChat gives them to the mini-program (Date, Content-Type, …).
function headersOf(headers) {
  const out = {}
  for (const [key, value] of Object.entries(headers)) {
    out[key.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase())] = value
  }
  return out
}

function send({ url, method = 'GET', data, header = {} }) {
  const body = data !== undefined && method !== 'GET' ? (typeof data === 'string' ? data : JSON.stringify(data)) : undefined
  return httpCall(url, { method, headers: header, body })
}

const later = (fn) => setTimeout(fn, 0)

global.wx = Object.assign(global.wx || {}, {
  getStorageSync: (key) => (runtime.storage.has(key) ? runtime.storage.get(key) : ''),
  setStorageSync: (key, value) => runtime.storage.set(key, value),
  removeStorageSync: (key) => runtime.storage.delete(key),

  login: ({ success }) => later(() => success({ code: `dev-${runtime.user}`, errMsg: 'login:ok' })),

  request(options) {
    const { url, method = 'GET', success, fail, complete } = options
    runtime.requests.push({ url, method, header: options.header || {}, data: options.data })
    const injected = fault(url)
    if (injected && injected.kind === 'network') {
      later(() => { fail && fail({ errMsg: 'request:fail timeout' }); complete && complete() })
      return
    }
    if (injected && injected.kind === 'response') {
      later(() => {
        success && success({ statusCode: injected.status, data: injected.data, header: { Date: new Date().toUTCString() } })
        complete && complete()
      })
      return
    }
    send(options).then((response) => {
      const text = response.body.toString('utf8')
      let body = text
      try { body = JSON.parse(text) } catch (e) { /* not JSON */ }
      success && success({ statusCode: response.status, data: body, header: headersOf(response.headers), errMsg: 'request:ok' })
    }).catch((error) => {
      fail && fail({ errMsg: `request:fail ${error.message}` })
    }).finally(() => complete && complete())
  },

  downloadFile(options) {
    const { url, header = {}, success, fail } = options
    runtime.requests.push({ url, method: 'GET', header, download: true })
    httpCall(url, { headers: header }).then((response) => {
      const file = path.join(os.tmpdir(), `wx-download-${Date.now()}-${Math.random().toString(36).slice(2)}`)
      fs.writeFileSync(file, response.body)
      success && success({ statusCode: response.status, tempFilePath: file })
    }).catch((error) => fail && fail({ errMsg: `downloadFile:fail ${error.message}` }))
  },

  getLocation({ success, fail }) {
    later(() => (runtime.location ? success({ ...runtime.location, errMsg: 'getLocation:ok' }) : fail({ errMsg: 'getLocation:fail auth deny' })))
  },
  openLocation: (options) => runtime.openedLocations.push(options),
  navigateTo: ({ url }) => runtime.navigations.push({ how: 'navigateTo', url }),
  redirectTo: ({ url }) => runtime.navigations.push({ how: 'redirectTo', url }),
  reLaunch: ({ url }) => runtime.navigations.push({ how: 'reLaunch', url }),
  navigateBack: () => runtime.navigations.push({ how: 'navigateBack' }),
  showToast: (options) => runtime.toasts.push(options.title),
  showModal(options) {
    runtime.modals.push(options)
    later(() => options.success && options.success({ confirm: runtime.modalAnswer, cancel: !runtime.modalAnswer }))
  },
  requestSubscribeMessage({ tmplIds, success }) {
    runtime.subscribeRequests.push(tmplIds)
    later(() => success && success(Object.fromEntries(tmplIds.map((id) => [id, runtime.subscribeAnswer]))))
  },
  setClipboardData: ({ data }) => { runtime.clipboard = data },
  canIUse: () => true,
  getUpdateManager: () => ({
    onCheckForUpdate() {},
    onUpdateReady(callback) { runtime.updateReady = callback },
    onUpdateFailed() {},
    applyUpdate() { runtime.applied = true },
  }),
})

global.getApp = () => ({ globalData: {} })
global.getCurrentPages = () => []
global.wxRuntime = runtime
global.httpCall = httpCall
