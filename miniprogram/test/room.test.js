// The waiting room, end to end against the real backend (tests/test_miniprogram.py opens
// the window a few seconds after this file starts, with ten residents who joined before
// and twenty who arrive right at the opening). One resident queues before the opening and
// gets a random place; another arrives later and sees the people ahead and the wait. Both
// book without tapping again once admitted.
const { open, waitFor, find, text, save, tap } = require('./pages')
const { as, record } = require('./backend')

const data = (page) => page.instance.data

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
  save(book, 'room-before-opening')
  // Put in order a few seconds before the opening: the place and the moment of the turn.
  await waitFor(() => data(book).room.position, 'a place before the opening', 60)
  const place = { ...data(book).room }
  expect(place.status).toBe('before_opening')
  expect(find(book, '#turn').dom.textContent).toMatch(/^\d\d:\d\d:\d\d$/)
  save(book, 'room-placed')
  expect(place.position).toBeGreaterThanOrEqual(1)
  expect(place.position).toBeLessThanOrEqual(11) // among the eleven who came before
  const id = await bookedId(book)
  record('room-early', { id, position: place.position, join_no: place.joinNo, tag: place.tag })
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
