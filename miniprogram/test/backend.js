// The end-to-end tests' side of tests/test_miniprogram.py: the backend's address and what
// was prepared there (campaigns, residents, an editor), and a place to write what the
// pages showed so the Python side can check it against the database.
const fs = require('fs')
const path = require('path')

function context() {
  const file = process.env.WXB_E2E
  if (!file) {
    throw new Error('These tests run against the real backend: run scripts/test (or set WXB_E2E to a context file written by tests/test_miniprogram.py).')
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

// A resident on a fresh phone: empty storage, the backend's address, WeChat user `user`.
function as(user) {
  const ctx = context()
  wxRuntime.reset()
  wxRuntime.user = user
  wx.setStorageSync('wxb:base_url', ctx.base_url)
  return ctx
}

function record(name, data) {
  fs.writeFileSync(path.join(context().results, `${name}.json`), JSON.stringify(data, null, 2))
}

async function api(pathname, { method = 'GET', body, token } = {}) {
  const headers = { 'content-type': 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  const response = await httpCall(context().base_url + pathname, { method, headers, body: body && JSON.stringify(body) })
  return { status: response.status, body: JSON.parse(response.body.toString('utf8')) }
}

// The verification code the outbox "sent" to `phone` (the dev tools' page reads it too).
async function latestCode(phone) {
  const { body } = await api(`/dev/outbox?phone=${phone}&limit=1`)
  const match = body.sms.length && /验证码为(\d{6})/.exec(body.sms[0].text)
  if (!match) throw new Error(`no verification code was sent to ${phone}`)
  return match[1]
}

module.exports = { context, as, record, api, latestCode }
