// Subscribe messages, asked for at the moment each matters: the booking's confirmation and
// reminder when booking, a win (48 hours to claim) when entering a draw, a voucher's
// release when registering in a queue, a switch to delivery when it is shown. The template
// ids are the deployment's (GET /subscriptions/templates), never written into the client.
//
// WeChat shows the prompt only inside a tap, so `load()` fetches the ids beforehand (a
// page's fetch) and `ask(events)` is synchronous: called first thing in the tap handler.
// Whatever the resident allows goes to the backend (one message per allowance); a refusal
// or a missing template never holds up what the tap was for.
const { request } = require('./request')

let templates = null

async function load() {
  if (!templates) {
    try {
      templates = (await request({ path: '/subscriptions/templates', auth: false })).templates || {}
    } catch (error) {
      return {} // no prompt this time; asked again on the next page
    }
  }
  return templates
}

function ask(events) {
  const wanted = (events || []).filter((event) => templates && templates[event])
  if (!wanted.length) return
  wx.requestSubscribeMessage({
    tmplIds: wanted.map((event) => templates[event]),
    success: (answer) => {
      const accepted = wanted.filter((event) => answer[templates[event]] === 'accept')
      if (accepted.length) {
        request({ path: '/me/subscriptions', method: 'POST', data: { accepted } }).catch(() => {})
      }
    },
  })
}

module.exports = { load, ask }
