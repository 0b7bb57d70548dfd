// Shanghai, first part: a household's first login registers for a pharmacy found by
// search, none chosen for it (tests/test_miniprogram_rounds.py).
const { open, settle, find, text, save, tap, change } = require('./pages')
const { as, record } = require('./backend')
const { fillProfile, plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('shanghai-register', shown))

test('a first login chooses a pharmacy, fills the form, registers and waits', async () => {
  const ctx = as('sh-home')
  const campaign = ctx.shanghai.campaign_id
  const wanted = ctx.shanghai.store
  let page = await open('pages/queue/queue', { campaign })
  expect(page.instance.data.storeId).toBe(null) // no pharmacy chosen for the household
  expect(page.instance.data.shownStores.length).toBe(30)
  await tap(page, '#register-button')
  expect(find(page, '#refusal').dom.textContent).toBe('请先选择一家药店')
  expect(wxRuntime.subscribeRequests).toEqual([])
  plainChinese(page)
  save(page, 'rounds-shanghai-choose')

  await change(page, '#store-search', { value: wanted.name.slice(-7) })
  expect(page.instance.data.shownStores.map((s) => s.id)).toEqual([wanted.id])
  save(page, 'rounds-shanghai-search')
  await change(page, '#stores', { value: wanted.id })
  await tap(page, '#register-button')
  await settle(page)
  expect(wxRuntime.navigations.pop().url).toBe(`/pages/profile/profile?campaign=${campaign}`)

  const form = await open('pages/profile/profile', { campaign })
  const profile = await fillProfile(form, ctx.household)
  expect(profile.district_name).toBe('上海市浦东新区')

  page = await open('pages/queue/queue', { campaign })
  wxRuntime.subscribeRequests = []
  await change(page, '#store-search', { value: wanted.name.slice(-7) })
  await change(page, '#stores', { value: wanted.id })
  await tap(page, '#register-button')
  await settle(page)
  // The voucher's message is asked for at the tap that registers.
  expect(wxRuntime.subscribeRequests).toEqual([['dev-voucher_released']])
  expect(find(page, '#entry-status').dom.textContent).toBe('待社区审核')
  expect(find(page, '#pharmacy-name').dom.textContent).toBe(wanted.name)
  expect(page.querySelector('#register')).toBeFalsy()
  plainChinese(page)
  save(page, 'rounds-shanghai-pending')
  shown.id = page.instance.data.entry.id
  expect(text(page)).toContain(wanted.address)
})
