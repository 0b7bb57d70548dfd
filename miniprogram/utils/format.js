// Times as residents read them, in Beijing time whatever the phone's zone.
const BEIJING_MS = 8 * 3600 * 1000

function parts(iso) {
  const d = new Date(Date.parse(iso) + BEIJING_MS)
  const pad = (n) => String(n).padStart(2, '0')
  return { month: d.getUTCMonth() + 1, day: d.getUTCDate(), hm: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` }
}

function moment(iso) {
  if (!iso) return ''
  const p = parts(iso)
  return `${p.month}月${p.day}日 ${p.hm}`
}

// "09:30:12": a moment to the second (a turn in the waiting room).
function clockTime(iso) {
  if (!iso) return ''
  const d = new Date(Date.parse(iso) + BEIJING_MS)
  const pad = (n) => String(n).padStart(2, '0')
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

function span(startIso, endIso) {
  const a = parts(startIso)
  const b = parts(endIso)
  return a.month === b.month && a.day === b.day
    ? `${a.month}月${a.day}日 ${a.hm}-${b.hm}` : `${moment(startIso)} 至 ${moment(endIso)}`
}

function yuan(fen) {
  return (fen / 100).toFixed(fen % 100 ? 2 : 0)
}

module.exports = { moment, clockTime, span, yuan }
