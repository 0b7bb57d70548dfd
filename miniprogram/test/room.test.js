// The waiting room, end to end against the real backend (tests/test_miniprogram.py opens
// the window a few seconds after this file starts, with ten residents who joined before
// and twenty who arrive right at the opening). One resident queues before the ordering
// and gets a random place, the one anyone recomputes from the published beacon round;
// another arrives later and sees the people ahead and the wait. Both book without tapping
// again once admitted.
const crypto = require('crypto')
const { open, waitFor, find, text, save, tap } = require('./pages')
const { as, record, api } = require('./backend')

const data = (page) => page.instance.data

// The early joiners' order as docs/waiting_room.md tells anyone to recompute it: by the
// first 13 hex digits of SHA-1("<randomness>:<window id>:<join number>"), then by join
// number.
function recomputed(proof) {
  const key = (n) => parseInt(crypto.createHash('sha1')
    .update(`${proof.randomness}:${proof.window_id}:${n}`).digest('hex').slice(0, 13), 16)
  const joins = Array.from({ length: proof.early_count }, (_, i) => i + 1)
  return joins.map((n) => [key(n), n]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((k) => k[1])
}

async function bookedId(page) {
  await waitFor(() => wxRuntime.navigations.some((n) => n.url.includes('/pages/booking/booking')), 'the booking page', 60)
  const url = wxRuntime.navigations.find((n) => n.url.includes('/pages/booking/booking')).url
  return Number(/id=(\d+)/.exec(url)[1])
}

test('queued before the opening: a random place, then booked when admitted', async () => {
  const ctx = as('mp-room-early')
  const { campaign_id: campaign, store_id: store } = ctx.room
  const book = await open('pages/book/book', { campaign, store })
  expect(data(book).campaign.waiting_room).toBe(true)
  expect(text(book)).toContain('排队预约')
  tap(book, '#book') // runs until booked: not awaited
  await waitFor(() => data(book).room && data(book).room.status === 'before_opening', 'the room before the opening')
  expect(text(book)).toContain('随机排序')
  expect(text(book)).toContain(`排队凭证标记 ${data(book).room.tag}`)
  // The public round that will order the room is named before anyone is placed.
  const round = data(book).room.round
  expect(round).toBeGreaterThan(0)
  expect(find(book, '#beacon').dom.textContent).toContain(`信标第 ${round} 轮`)
  save(book, 'room-before-opening')
  // Put in order a few seconds before the opening: the place and the moment of the turn.
  await waitFor(() => data(book).room.position, 'a place before the opening', 60)
  const place = { ...data(book).room }
  expect(place.status).toBe('before_opening')
  expect(find(book, '#turn').dom.textContent).toMatch(/^\d\d:\d\d:\d\d$/)
  save(book, 'room-placed')
  expect(place.position).toBeGreaterThanOrEqual(1)
  expect(place.position).toBeLessThanOrEqual(11) // among the eleven who came before
  // The place is the one recomputed from what the room publishes: the round it named,
  // that round's randomness and the count of early joiners.
  const { status, body: proof } = await api(`/public/campaigns/${campaign}/windows/${place.windowId}/room.json`)
  expect(status).toBe(200)
  expect(proof.beacon_round).toBe(round)
  expect(proof.early_count).toBe(11)
  expect(recomputed(proof).indexOf(place.joinNo) + 1).toBe(place.position)
  const id = await bookedId(book)
  record('room-early', { id, position: place.position, join_no: place.joinNo, tag: place.tag, round })
})

test('arrived after the opening: the people ahead and the wait, then booked', async () => {
  const ctx = as('mp-room-late')
  const { campaign_id: campaign, store_id: store } = ctx.room
  const book = await open('pages/book/book', { campaign, store })
  tap(book, '#book')
  await waitFor(() => data(book).room && data(book).room.position, 'a place in the queue')
  const place = { ...data(book).room }
  expect(place.joinNo).toBeGreaterThan(11)
  expect(place.position).toBe(place.joinNo) // late arrivals queue in arrival order
  // Twenty arrived at the opening, and two places a second are admitted: still waiting.
  expect(place.status).toBe('waiting')
  expect(find(book, '#position').dom.textContent).toBe(String(place.position))
  expect(find(book, '#ahead').dom.textContent).toBe(`${place.ahead} 人`)
  expect(text(book)).toMatch(/预计等待\s*约 \d+ (秒|分钟)/)
  save(book, 'room-waiting')
  const id = await bookedId(book)
  record('room-late', { id, position: place.position, join_no: place.joinNo })
})
