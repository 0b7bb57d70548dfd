// What each refusal of a booking means to a resident, in plain words, and what to do next.
const format = require('./format')

const SCREENS = {
  sold_out: { title: '本时段已约满', text: '这一时段的口罩已经全部约完。请留意下一次开放时间。', action: 'home' },
  store_full: { title: '这家药店已约满', text: '这家药店今天的份额已约完，可以换一家附近的药店试试。', action: 'stores' },
  already_booked: { title: '您已经预约过了', text: '同一个人（或同一户）在本活动限约一次，可在“我的预约”里查看。', action: 'bookings' },
  cooldown: { title: '还不能再次预约', text: '上次预约成功后需要间隔一段时间才能再约。', action: 'home' },
  window_closed: { title: '现在不在预约时间', text: '本时段已经结束或还没开始。', action: 'home' },
  not_eligible: { title: '不在本次活动范围内', text: '本次活动只面向规定地区的居民。', action: 'home' },
  profile_incomplete: { title: '请先完成实名登记', text: '预约前需要登记姓名、证件号码和手机号。', action: 'profile' },
  promise_required: { title: '请先完成实名登记', text: '本活动按户限购，需要填写住址并承诺信息真实。', action: 'profile' },
  rules_changed: { title: '预约规则已更新', text: '活动规则刚刚调整，请看清新规则后再预约。', action: 'retry' },
  outside_delivery_area: { title: '不在邮寄范围内', text: '您的地址不在邮寄范围内，请选择线下药店。', action: 'stores' },
  address_required: { title: '需要收货地址', text: '邮寄需要收货地址，请先在实名信息中填写住址。', action: 'profile' },
  room_not_open: { title: '排队还没开始', text: '排队在预约开始前一段时间开放，请到时再来。', action: 'home' },
  not_admitted: { title: '还没轮到您', text: '本活动需要先排队，轮到后才能预约。', action: 'requeue' },
  admission_expired: { title: '排队凭证已过期', text: '轮到您后太久没有预约，请重新排队，位置不变。', action: 'requeue' },
  admission_invalid: { title: '排队凭证无效', text: '请重新排队，位置不变。', action: 'requeue' },
  too_many_attempts: { title: '操作太频繁', text: '短时间内点击太多次了，请稍等一会儿再试。', action: 'home' },
}

// The screen for an ApiError: its own words from the server, with the plain title.
function screenFor(error) {
  const known = SCREENS[error.code]
  const screen = known ? { ...known } : { title: '没有预约成功', text: error.message, action: 'home' }
  if (known && error.message) screen.detail = error.message
  if (error.code === 'window_closed' && error.body.next_opening) {
    screen.text = `下次开放：${format.moment(error.body.next_opening)}，届时再来。`
  }
  if (error.code === 'rules_changed' && error.body.summary) screen.detail = error.body.summary
  return screen
}

module.exports = { SCREENS, screenFor }
