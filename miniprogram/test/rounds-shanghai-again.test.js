// Shanghai, second part: the committee refused the registration with a reason; the
// household registers again, choosing its pharmacy afresh.
const { open, settle, find, save, tap, change } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('shanghai-again', shown))

test('a refusal shows its reason and the way to register again', async () => {
  const ctx = as('sh-home')
  const wanted = ctx.shanghai.store
  const page = await open('pages/queue/queue', { campaign: ctx.shanghai.campaign_id })
  expect(find(page, '#entry-status').dom.textContent).toBe('未通过审核')
  const reason = page.instance.data.entry.reject_reason
  expect(find(page, '#reject-reason').dom.textContent).toContain(reason)
  expect(find(page, '#register').dom.textContent).toContain('重新登记')
  expect(page.instance.data.storeId).toBe(null)
  plainChinese(page)
  save(page, 'rounds-shanghai-rejected')

  await change(page, '#store-search', { value: wanted.name.slice(-7) })
  await change(page, '#stores', { value: wanted.id })
  await tap(page, '#register-button')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('待社区审核')
  expect(find(page, '#history').dom.textContent).toContain('未通过审核')
  plainChinese(page)
  save(page, 'rounds-shanghai-registered-again')
  shown.id = page.instance.data.entry.id
  shown.reject_reason = reason
})
