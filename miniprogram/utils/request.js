// Every call to the backend goes through here: the base URL, the resident's token, one
// retry policy, and the error envelope turned into something a page can show.
//
// - A 401 logs in again silently (wx.login → POST /auth/login) and repeats the call once.
// - A network failure is retried once for reads; writes are retried by the page that made
//   them, with the same Idempotency-Key, so nothing is done twice.
// - Every answer's Date header sets the server clock the countdowns follow.
const { baseUrl } = require('../config')
const clock = require('./clock')

const TOKEN_KEY = 'wxb:token'

class ApiError extends Error {
  constructor({ status = 0, code = 'network', message = '网络不稳定，请稍后重试', fields = {}, body = {}, header = {} }) {
    super(message)
    this.status = status
    this.code = code
    this.fields = fields || {}
    this.body = body || {}
    this.retryAfter = Number((body && body.retry_after) || (header && (header['Retry-After'] || header['retry-after'])) || 0)
  }
}

function raw({ path, method = 'GET', data, header = {} }) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: baseUrl() + '/api/v1' + path,
      method,
      data,
      header: { 'content-type': 'application/json', ...header },
      success: (res) => {
        clock.observe(res.header)
        resolve(res)
      },
      fail: (err) => reject(new ApiError({ message: '网络不稳定，请稍后重试', body: { detail: err && err.errMsg } })),
    })
  })
}

let loggingIn = null

// Silent login: wx.login's code for a token, kept in storage. Concurrent callers share one.
function login() {
  if (!loggingIn) {
    loggingIn = new Promise((resolve, reject) => {
      wx.login({
        success: ({ code }) => raw({ path: '/auth/login', method: 'POST', data: { code } })
          .then((res) => {
            if (res.statusCode !== 200) throw toError(res)
            wx.setStorageSync(TOKEN_KEY, res.data.token)
            resolve(res.data)
          })
          .catch(reject),
        fail: () => reject(new ApiError({ code: 'login_failed', message: '微信登录失败，请稍后重试' })),
      })
    }).finally(() => { loggingIn = null })
  }
  return loggingIn
}

function token() {
  return wx.getStorageSync(TOKEN_KEY) || ''
}

function toError(res) {
  const envelope = (res.data && res.data.error) || {}
  return new ApiError({
    status: res.statusCode,
    code: envelope.code || `http_${res.statusCode}`,
    message: envelope.message || '服务暂时不可用，请稍后重试',
    fields: envelope.fields,
    body: envelope,
    header: res.header,
  })
}

// The call, answered with the JSON body on 2xx; rejects with an ApiError otherwise.
async function request({ path, method = 'GET', data, header = {}, auth = true }) {
  const send = () => raw({ path, method, data, header: auth && token() ? { ...header, Authorization: `Bearer ${token()}` } : header })
  let res
  try {
    if (auth && !token()) await login()
    res = await send()
  } catch (error) {
    if (method !== 'GET' || error.code !== 'network') throw error
    res = await send() // one more try for a read
  }
  if (res.statusCode === 401 && auth) {
    await login()
    res = await send()
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return res.data
  throw toError(res)
}

// A file the backend serves to its owner only (QR codes): an <image> cannot send the
// Authorization header, so download it with the header and show the local copy.
function download(path) {
  const get = () => new Promise((resolve, reject) => {
    wx.downloadFile({
      url: baseUrl() + '/api/v1' + path,
      header: { Authorization: `Bearer ${token()}` },
      success: resolve,
      fail: () => reject(new ApiError({})),
    })
  })
  return get().then(async (res) => {
    if (res.statusCode === 401) {
      await login()
      res = await get()
    }
    if (res.statusCode !== 200) throw new ApiError({ status: res.statusCode, code: 'not_found', message: '二维码暂时无法显示' })
    return res.tempFilePath
  })
}

// An Idempotency-Key, made once per tap.
function newKey() {
  const rand = () => Math.random().toString(36).slice(2, 10)
  return `${Date.now().toString(36)}-${rand()}-${rand()}`
}

module.exports = { request, download, login, token, newKey, ApiError, TOKEN_KEY }
