// The waiting room of a campaign that has one: join once, then ask "where am I" when the
// server says to (poll_after_ms, already jittered), until admitted, sold out or closed.
// The server keeps one place per person, so joining again (after the app was closed)
// gives the same place back.
const { request, ApiError } = require('./request')
const format = require('./format')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// What the page shows of a room answer.
function view(room) {
  const shown = {
    status: room.status,
    joinNo: room.join_no,
    tag: room.tag,
    position: room.position,
    ahead: room.ahead,
    joined: room.joined,
    opens: format.moment(room.opens_at),
    wait: '',
  }
  if (room.wait_seconds != null) {
    const s = room.wait_seconds
    shown.wait = s < 60 ? `约 ${s} 秒` : `约 ${Math.ceil(s / 60)} 分钟`
  }
  return shown
}

// Until admitted: answers the admission token. `show(view)` is called with every answer;
// `gone()` says the page has been left (then it stops quietly).
async function queue(campaignId, { show, gone }) {
  let room = await request({ path: `/campaigns/${campaignId}/room`, method: 'POST' })
  for (;;) {
    show(view(room))
    if (room.status === 'admitted') return room.admission
    if (room.status === 'sold_out') {
      throw new ApiError({ status: 409, code: 'sold_out', message: '本时段的口罩已全部约完，排队结束' })
    }
    if (room.status === 'closed') {
      throw new ApiError({ status: 409, code: 'window_closed', message: '本时段已结束' })
    }
    await sleep(room.poll_after_ms || 1000)
    if (gone()) throw new ApiError({ code: 'left', message: '已离开排队页面' })
    try {
      room = await request({ path: `/campaigns/${campaignId}/room?ticket=${encodeURIComponent(room.ticket)}`, auth: false })
    } catch (error) {
      if (error.code !== 'network') throw error
      // A lost answer changes nothing: the place is kept; ask again shortly.
    }
  }
}

module.exports = { queue, view }
