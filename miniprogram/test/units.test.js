// The small modules every page leans on: the server clock, times in Beijing, refusals.
const canonical = require('../utils/canonical')
const clock = require('../utils/clock')
const format = require('../utils/format')
const { SCREENS, screenFor } = require('../utils/refusals')
const { ApiError } = require('../utils/request')

test('countdowns follow the server clock, not the phone', () => {
  const server = Date.now() + 3600 * 1000 // the phone is an hour slow
  clock.observe({ Date: new Date(server).toUTCString() })
  const opening = new Date(server + 90 * 1000).toISOString()
  expect(clock.until(opening)).toMatch(/^00:01:(29|30)$/)
  expect(Math.abs(clock.offset() - 3600 * 1000)).toBeLessThan(1500)
  clock.observe({ Date: new Date().toUTCString() })
})

test('times read in Beijing time whatever the phone zone', () => {
  expect(format.moment('2026-03-01T01:30:00+00:00')).toBe('3月1日 09:30')
  expect(format.span('2026-03-02T01:00:00Z', '2026-03-02T10:00:00Z')).toBe('3月2日 09:00-18:00')
  expect(format.yuan(1000)).toBe('10')
  expect(format.yuan(1250)).toBe('12.50')
})

test.each(['sold_out', 'store_full', 'already_booked', 'cooldown', 'window_closed',
  'not_eligible', 'profile_incomplete', 'rules_changed'])('%s has a screen of its own', (code) => {
  const screen = screenFor(new ApiError({ status: 409, code, message: '服务器的说明', body: { code } }))
  expect(screen.title).toBe(SCREENS[code].title)
  expect(screen.text.length).toBeGreaterThan(5)
})

test('window_closed says when to come back', () => {
  const screen = screenFor(new ApiError({ status: 409, code: 'window_closed', message: '当前不在预约时段', body: { next_opening: '2026-03-02T01:30:00+00:00' } }))
  expect(screen.text).toContain('3月2日 09:30')
})

test('an unknown refusal still shows the server message', () => {
  expect(screenFor(new ApiError({ status: 409, code: 'something_new', message: '新的原因' })).text).toBe('新的原因')
})

test('a new version waiting asks the resident to restart into it', async () => {
  let app = null
  global.App = (definition) => { app = definition }
  wxRuntime.reset()
  wx.setStorageSync('wxb:base_url', 'http://127.0.0.1:9') // nothing listens: login fails quietly
  jest.isolateModules(() => require('../app'))
  app.onLaunch()
  expect(typeof wxRuntime.updateReady).toBe('function')
  wxRuntime.updateReady()
  await new Promise((resolve) => setTimeout(resolve, 10))
  expect(wxRuntime.modals[0].confirmText).toBe('同意更新')
  expect(wxRuntime.applied).toBe(true)
})

test('what residents type is sent in the form the API takes', () => {
  expect(canonical.idNumber(' ４１０１０５ 19491231-002x ')).toBe('41010519491231002X')
  expect(canonical.idNumber('usa 4108 0101 0001')).toBe('USA410801010001')
  expect(canonical.phone('+86 138-1234-5678')).toBe('13812345678')
  expect(canonical.phone('（０086）13812345678')).toBe('13812345678')
  expect(canonical.phone('8613812345678')).toBe('13812345678')
  expect(canonical.phone('13812345678')).toBe('13812345678')
  expect(canonical.name(' 阿依古丽•买买提 ')).toBe('阿依古丽·买买提')
  expect(canonical.name('Anna   Maria')).toBe('Anna Maria')
  expect(canonical.address(' 郑州市金水区  花园路１２号院\u200b3号楼（东）')).toBe('郑州市金水区 花园路12号院3号楼(东)')
  expect(canonical.smsCode(' １２３ 456 ')).toBe('123456')
  // Another script's digits are the server's to refuse, with its own words: sent as typed.
  expect(canonical.phone('١٣٨١٢٣٤٥٦٧٨')).toBe('١٣٨١٢٣٤٥٦٧٨')
})
