// Shanghai, last part: the pharmacist took the voucher.
const { open, find, save, tap } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('shanghai-used', shown))

test('the voucher shows used, with when and where', async () => {
  const ctx = as('sh-home')
  const page = await open('pages/queue/queue', { campaign: ctx.shanghai.campaign_id })
  expect(find(page, '#entry-status').dom.textContent).toBe('已购买')
  expect(find(page, '#redeemed-at').dom.textContent).toMatch(/^\d+月\d+日 \d\d:\d\d$/)
  expect(find(page, '#pharmacy-name').dom.textContent).toBe(ctx.shanghai.store.name)
  expect(page.querySelector('#voucher')).toBeFalsy()
  // The next round is offered, not pressed on the household: a tap opens its form.
  expect(page.querySelector('#register')).toBeFalsy()
  plainChinese(page)
  save(page, 'rounds-shanghai-used')
  await tap(page, '#open-register')
  expect(find(page, '#register').dom.textContent).toContain('登记下一轮')
  expect(page.instance.data.storeId).toBe(null)
  shown.status_text = find(page, '#entry-status').dom.textContent
})
