// After the draw and the committee's review (done by tests/test_miniprogram.py between the
// two parts): the winner claims with a delivery choice; the household sees its voucher.
const fs = require('fs')
const { open, settle, find, text, save, tap, change } = require('./pages')
const { as, record } = require('./backend')

const shown = {}
afterAll(() => record('claim', shown))

test('the winner claims at a collection point before the deadline', async () => {
  const ctx = as('mp-lottery')
  const page = await open('pages/lottery/lottery', { campaign: ctx.lottery.campaign_id })
  expect(find(page, '#entry-status').dom.textContent).toContain('已中签')
  const entry = page.instance.data.entry
  await tap(page, '#open-draw')
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/draw/draw?id=${entry.draw_id}&campaign=${ctx.lottery.campaign_id}`)
  expect(text(page)).not.toMatch(/https?:|public\/draws/)
  save(page, 'lottery-won')
  await change(page, '#fulfilments', { value: 'collection_point' })
  await change(page, '#points', { value: page.instance.data.points[0].id })
  await tap(page, '#claim-button')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('已中签并下单')
  expect(text(page)).toContain('到自提点领取')
  save(page, 'lottery-claimed')
  shown.lottery = { id: entry.id, fulfilment: 'collection_point' }
})

test('the household sees its voucher, its QR and its expiry', async () => {
  const ctx = as('mp-queue')
  const page = await open('pages/queue/queue', { campaign: ctx.queue.campaign_id })
  expect(find(page, '#entry-status').dom.textContent).toBe('可以购买了')
  const voucher = find(page, '#voucher-code').dom.textContent
  expect(voucher).toMatch(/^\d{6}$/)
  expect(find(page, '#voucher-expiry').dom.textContent).toMatch(/月\d+日/)
  expect(fs.readFileSync(page.instance.data.qr).subarray(1, 4).toString()).toBe('PNG')
  save(page, 'queue-voucher')
  shown.queue = { id: page.instance.data.entry.id, voucher_code: voucher }
})
