// What goes wrong on the day, against the real backend: a network error then a retry with
// the same key, `busy` with a visible countdown, a sold-out window, rules changed under the
// resident's feet, and a token the server no longer knows.
const { open, settle, waitFor, find, text, save, tap } = require('./pages')
const { as, record, api } = require('./backend')

const shown = {}
afterAll(() => record('failures', shown))

function bookingPosts() {
  return wxRuntime.requests.filter((r) => r.method === 'POST' && /\/bookings$/.test(r.url))
}

async function bookedId(page) {
  await settle(page)
  const done = wxRuntime.navigations.pop()
  expect(done && done.how).toBe('redirectTo')
  return Number(/id=(\d+)/.exec(done.url)[1])
}

test('a network error is retried with the same key and books once', async () => {
  const ctx = as('mp-net')
  const book = await open('pages/book/book', { campaign: ctx.fcfs.campaign_id, store: ctx.fcfs.store_ids[1] })
  wxRuntime.failNext(/\/bookings$/, { kind: 'network' })
  await tap(book, '#book')
  await waitFor(() => book.instance.data.retrying, 'the retry notice')
  expect(text(book)).toContain('网络不稳定，正在重试')
  shown.network = { id: await bookedId(book) }
  const keys = bookingPosts().map((r) => r.header['Idempotency-Key'])
  expect(keys.length).toBe(2)
  expect(keys[0]).toBe(keys[1])
})

test('busy shows a countdown, then the same key books', async () => {
  const ctx = as('mp-busy')
  const book = await open('pages/book/book', { campaign: ctx.fcfs.campaign_id, store: ctx.fcfs.store_ids[2] })
  wxRuntime.failNext(/\/bookings$/, {
    kind: 'response', status: 429,
    data: { error: { code: 'busy', message: '系统繁忙，请稍后再试', retry_after: 2, fields: {} } },
  })
  await tap(book, '#book')
  await waitFor(() => book.instance.data.waiting > 0, 'the busy countdown')
  expect(find(book, '#busy').dom.textContent).toMatch(/\d 秒后自动重试/)
  save(book, 'book-busy')
  shown.busy = { id: await bookedId(book) }
  const keys = bookingPosts().map((r) => r.header['Idempotency-Key'])
  expect(new Set(keys).size).toBe(1)
})

test('a sold-out window gets its own plain screen', async () => {
  const ctx = as('mp-full')
  const book = await open('pages/book/book', { campaign: ctx.sold_out.campaign_id, store: ctx.sold_out.store_id })
  await tap(book, '#book')
  await settle(book)
  expect(find(book, '#refusal').dom.getAttribute('data-code')).toBe('sold_out')
  expect(text(book)).toContain('本时段已约满')
  save(book, 'book-sold-out')
})

test('rules changed: the new summary, a refresh, then the booking goes through', async () => {
  const ctx = as('mp-rules')
  const campaign = ctx.changing.campaign_id
  const book = await open('pages/book/book', { campaign, store: ctx.changing.store_id })
  expect(book.instance.data.campaign.rules_version).toBe(1)
  // The editor publishes a rules change an operator approved (prepared by the Python side).
  const published = await api(`/api/v1/admin/announcements/${ctx.changing.announcement_id}/publish`, { method: 'POST', token: ctx.editor_token })
  expect(published.status).toBe(200)
  await tap(book, '#book')
  await settle(book)
  expect(find(book, '#refusal').dom.getAttribute('data-code')).toBe('rules_changed')
  expect(text(book)).toContain('14天')
  expect(book.instance.data.campaign.rules_version).toBe(2)
  save(book, 'book-rules-changed')
  await tap(book, '#again')
  shown.rules = { id: await bookedId(book) }
})

test('a token the server forgot: a silent login and the same call again', async () => {
  const ctx = as('mp-relogin')
  wx.setStorageSync('wxb:token', 'a-token-from-last-week')
  const book = await open('pages/book/book', { campaign: ctx.fcfs.campaign_id, store: ctx.fcfs.store_ids[0] })
  await tap(book, '#book')
  const id = await bookedId(book)
  const posts = bookingPosts()
  expect(posts.length).toBe(2) // refused with 401, then repeated after the login
  expect(wxRuntime.requests.filter((r) => r.url.endsWith('/auth/login')).length).toBe(1)
  shown.relogin = { id }

  const detail = await open('pages/booking/booking', { id })
  await tap(detail, '#cancel')
  await waitFor(() => detail.instance.data.booking.status === 'cancelled', 'the cancellation')
  expect(wxRuntime.modals[0].content).toContain('确定取消')
  expect(text(detail)).toContain('已取消')
  save(detail, 'booking-cancelled')
})
