// Fuzhou, third part: draw 1 is drawn. Two winners claim, neither way chosen for them:
// one by express to the home, one (outside the delivery area) at a collection point found
// by search; the one who lost sees the rank and stays in the pool.
const { open, settle, find, text, save, tap, change } = require('./pages')
const { as, record } = require('./backend')
const { plainChinese } = require('./rounds')

const shown = {}
afterAll(() => record('fuzhou-won', shown))

test('a winner sees the rank, chooses express (free) and sees the order', async () => {
  const ctx = as('fz-home')
  const campaign = ctx.fuzhou.campaign_id
  const page = await open('pages/lottery/lottery', { campaign })
  expect(find(page, '#entry-status').dom.textContent).toBe('已中签，请在截止前下单')
  const rank = page.instance.data.entry.draw.rank
  expect(find(page, '#draw-text').dom.textContent).toBe(`第1期中签，排名第${rank}位`)
  expect(find(page, '#claim-deadline').dom.textContent).toMatch(/^\d+月\d+日 \d\d:\d\d$/)
  expect(page.instance.data.fulfilment).toBe('') // nothing chosen for the resident
  expect(page.instance.data.entry.options.map((o) => o.label)).toEqual(['快递到家（邮政快递，免运费）', '到自提点领取（免运费）'])
  plainChinese(page)
  save(page, 'rounds-fuzhou-won')

  await tap(page, '#claim-button')
  expect(find(page, '#claim-error').dom.textContent).toBe('请先选择领取方式')
  await change(page, '#fulfilments', { value: 'express' })
  await tap(page, '#claim-button')
  await settle(page)
  expect(find(page, '#entry-status').dom.textContent).toBe('已中签并下单')
  expect(find(page, '#order-way').dom.textContent).toBe('快递到家')
  expect(find(page, '#order-fee').dom.textContent).toBe('免运费')
  expect(find(page, '#order-status').dom.textContent).toBe('待发货')
  expect(find(page, '#reenter-later').dom.textContent).toMatch(/\d+月\d+日 \d\d:\d\d 之后/)
  expect(page.querySelector('#claim')).toBeFalsy()
  expect(page.querySelector('#enter')).toBeFalsy()
  plainChinese(page)
  save(page, 'rounds-fuzhou-claimed')

  const draw = await open('pages/draw/draw', { id: ctx.draw_id, campaign })
  expect(find(draw, '.line-rank').dom.textContent).toBe(`第${rank}位`)
  expect(find(draw, '.line-result').dom.textContent).toBe('中签')
  expect(find(draw, '#public-value').dom.textContent).toMatch(/^公证员现场输入 \d{4}$/)
  expect(find(draw, '#winners-count').dom.textContent).toBe('5人')
  plainChinese(draw, ['#fingerprints'])
  save(draw, 'rounds-draw-drawn')
  shown['fz-home'] = { rank }
})

test('outside the delivery area: express says why not; a collection point found by search', async () => {
  const ctx = as('fz-far')
  const wanted = ctx.fuzhou.search
  const page = await open('pages/lottery/lottery', { campaign: ctx.fuzhou.campaign_id })
  expect(find(page, '#unavailable-express').dom.textContent).toContain('不在配送范围')
  await change(page, '#fulfilments', { value: 'express' })
  expect(page.instance.data.fulfilment).toBe('')
  plainChinese(page)
  save(page, 'rounds-fuzhou-far-options')

  await change(page, '#fulfilments', { value: 'collection_point' })
  expect(page.instance.data.pointId).toBe(null) // no collection point chosen for them
  await tap(page, '#claim-button')
  expect(find(page, '#claim-error').dom.textContent).toBe('请选择一个自提点')
  await change(page, '#point-search', { value: wanted.name.slice(-7) })
  expect(page.instance.data.shownPoints.map((p) => p.id)).toEqual([wanted.id])
  save(page, 'rounds-fuzhou-point-search')
  await change(page, '#points', { value: wanted.id })
  await tap(page, '#claim-button')
  await settle(page)
  expect(find(page, '#order-point').dom.textContent).toBe(wanted.name)
  expect(text(page)).toContain(wanted.address)
  expect(text(page)).toContain(wanted.opening_hours)
  expect(find(page, '#order-fee').dom.textContent).toBe('免运费')
  plainChinese(page)
  save(page, 'rounds-fuzhou-point-claimed')
  shown['fz-far'] = { point: wanted.id }
})

test('the one not drawn sees the rank and stays in the pool for the next draw', async () => {
  const ctx = as('fz-lose')
  const campaign = ctx.fuzhou.campaign_id
  const page = await open('pages/lottery/lottery', { campaign })
  const rank = page.instance.data.entry.draw.rank
  expect(find(page, '#entry-status').dom.textContent).toBe('等待摇号')
  expect(find(page, '#draw-text').dom.textContent).toBe(`第1期未中签，排名第${rank}位（名额5个），已自动参加下一期`)
  plainChinese(page)
  save(page, 'rounds-fuzhou-lost')
  const draw = await open('pages/draw/draw', { id: ctx.draw_id, campaign })
  expect(find(draw, '.line-rank').dom.textContent).toBe(`第${rank}位`)
  expect(find(draw, '.line-result').dom.textContent).toBe('未中签，已自动参加下一期')
  save(draw, 'rounds-draw-lost')
  shown['fz-lose'] = { rank }
})
