// A lottery entry (Fuzhou) and a queue registration (Shanghai), against the real backend.
const { open, settle, find, text, save, tap, change } = require('./pages')
const { as, record } = require('./backend')

const shown = {}
afterAll(() => record('enter', shown))

test('a resident without a profile is sent to the real-name form', async () => {
  const ctx = as('mp-nobody')
  const page = await open('pages/lottery/lottery', { campaign: ctx.lottery.campaign_id })
  await tap(page, '#enter')
  await settle(page)
  expect(wxRuntime.navigations.pop().url).toContain('/pages/profile/profile')
  expect(find(page, '#refusal').dom.textContent).toContain('实名')
})

test('entering the lottery gives an 8-digit number and the draw times', async () => {
  const ctx = as('mp-lottery')
  const page = await open('pages/lottery/lottery', { campaign: ctx.lottery.campaign_id })
  expect(text(page)).toContain('您还没有登记')
  expect(text(page)).toMatch(/摇号时间|摇号一次/)
  await tap(page, '#enter')
  await settle(page)
  const entry = page.instance.data.entry
  expect(find(page, '#reservation-no').dom.textContent).toMatch(/^\d{8}$/)
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  save(page, 'lottery-entered')
  shown.lottery = { id: entry.id, reservation_no: entry.reservation_no }
})

test('a household registers for a pharmacy and waits for the review', async () => {
  const ctx = as('mp-queue')
  const page = await open('pages/queue/queue', { campaign: ctx.queue.campaign_id })
  await change(page, '#stores', { value: ctx.queue.store_id })
  save(page, 'queue-register')
  await tap(page, '#register-button')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('待社区审核')
  save(page, 'queue-pending')
  shown.queue = { id: page.instance.data.entry.id }
})
