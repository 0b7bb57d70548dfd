// The server's clock, learnt from each answer's Date header: countdowns go by it, so a
// phone set an hour ahead neither opens the window early nor misses it.
let offsetMs = 0

function observe(header) {
  const raw = header && (header.Date || header.date)
  const server = raw ? Date.parse(raw) : NaN
  if (!Number.isNaN(server)) offsetMs = server - Date.now()
}

function now() {
  return Date.now() + offsetMs
}

function offset() {
  return offsetMs
}

// "3天 02:05:09" / "02:05:09" until `moment` (ISO text), by the server's clock.
function until(moment) {
  let seconds = Math.max(0, Math.floor((Date.parse(moment) - now()) / 1000))
  const days = Math.floor(seconds / 86400)
  seconds %= 86400
  const pad = (n) => String(n).padStart(2, '0')
  const time = `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`
  return days ? `${days}天 ${time}` : time
}

module.exports = { observe, now, offset, until }
