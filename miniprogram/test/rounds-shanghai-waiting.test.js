// Shanghai, third part: approved, behind neighbours; the pharmacy released a first batch.
const { open, find, text, save, tap } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('shanghai-waiting', shown))

test('the place in the pharmacy queue and the batches released so far', async () => {
  const ctx = as('sh-home')
  const campaign = ctx.shanghai.campaign_id
  const page = await open('pages/queue/queue', { campaign })
  const queue = page.instance.data.entry.queue
  expect(find(page, '#entry-status').dom.textContent).toBe('审核通过，排队等待到货')
  expect(find(page, '#position').dom.textContent).toBe(String(ctx.expect.position))
  expect(find(page, '#ahead').dom.textContent).toBe(`${ctx.expect.position - 1}户`)
  expect(find(page, '#released').dom.textContent).toBe(`${ctx.expect.released}张`)
  expect(find(page, '#last-batch').dom.textContent).toMatch(new RegExp(`^最近一批：\\d+月\\d+日 \\d\\d:\\d\\d 到货，发放${ctx.expect.released}张。$`))
  plainChinese(page)
  save(page, 'rounds-shanghai-waiting')
  Object.assign(shown, { position: queue.position, ahead: queue.ahead, released: queue.released })

  const mine = await open('pages/bookings/bookings')
  const listed = mine.instance.data.queues
  expect(listed.length).toBe(2)
  expect(text(mine)).toContain(`排第${ctx.expect.position}位`)
  plainChinese(mine)
  save(mine, 'rounds-shanghai-bookings')
  await tap(mine, `#entry-${listed[0].id}`, 'click')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/queue/queue?campaign=${campaign}`)
})
