// The waiting room of a campaign that has one: join once, then ask "where am I" when the
// server says to (poll_after_ms), until admitted, sold out or closed. Shortly before the
// turn the answer carries the admission with the moment it becomes good: the page waits
// till then (poll_after_ms) and books without asking again. In between, every few seconds, the room's public state (the same for
// everyone, cached by a CDN) says how far the queue has moved and whether the window has
// sold out. The server keeps one place per person, so joining again (after the app was
// closed) gives the same place back.
const { request, ApiError } = require('./request')
const format = require('./format')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const PUBLIC_CHECK_MS = 3000

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
    sorts: format.clockTime(room.sorted_at),
    // The public beacon round whose random number orders those who came before `sorts`.
    round: room.beacon_round,
    roundAt: room.beacon_at ? format.clockTime(room.beacon_at) : '',
    held: Boolean(room.held),
    windowId: room.window_id,
    turn: room.admission_from ? format.clockTime(room.admission_from) : '',
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
    const over = await waitOrOver(campaignId, room, { show, gone })
    if (over) room = { ...room, status: over }
    if (gone()) throw new ApiError({ code: 'left', message: '已离开排队页面' })
    if (over) continue
    // Handed the admission ahead of the turn: the turn has come, book now.
    if (room.admission) return room.admission
    try {
      room = await request({ path: `/campaigns/${campaignId}/room?ticket=${encodeURIComponent(room.ticket)}`, auth: false })
    } catch (error) {
      if (error.code !== 'network') throw error
      // A lost answer changes nothing: the place is kept; ask again shortly.
    }
  }
}

// Until the resident's own poll is due; meanwhile the public state moves the numbers on
// and answers 'sold_out' or 'closed' as soon as the room is over.
async function waitOrOver(campaignId, room, { show, gone }) {
  const until = Date.now() + (room.poll_after_ms || 1000)
  for (;;) {
    const left = until - Date.now()
    if (left <= 0 || gone()) return null
    await sleep(Math.min(left, PUBLIC_CHECK_MS))
    if (Date.now() >= until || gone()) return null
    try {
      const now = await request({ path: `/campaigns/${campaignId}/room`, auth: false })
      if (now.status === 'sold_out' || now.status === 'closed') return now.status
      if (room.position && now.serving != null) {
        const ahead = Math.max(0, room.position - now.serving - 1)
        show(view({ ...room, ahead, wait_seconds: Math.ceil((ahead + 1) / now.admit_per_second) }))
      }
    } catch (error) {
      // The next check, or the resident's own poll, will tell.
    }
  }
}

module.exports = { queue, view }
