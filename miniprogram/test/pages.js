// Pages rendered through WeChat's own compiler (miniprogram-simulate, `official`), driven
// as a resident would: load with a query, tap, type, and wait for the page to settle.
const fs = require('fs')
const path = require('path')
const simulate = require('miniprogram-simulate')

const ROOT = path.join(__dirname, '..')
const SCREENS = path.join(ROOT, 'test-output', 'screens')

// Each open() loads the page afresh. miniprogram-simulate runs every component's file to
// register it, and jest caches modules whatever simulate asks of require.cache, so the
// registry is reset first: otherwise a component already used by another page would not
// register again and would render as a bare tag.
async function open(page, query = {}) {
  jest.resetModules()
  const id = simulate.load(path.join(ROOT, page), { compiler: 'official', rootPath: ROOT })
  const comp = simulate.render(id)
  comp.attach(document.createElement('parent-wrapper'))
  await comp.instance.onLoad(query)
  await settle(comp)
  return comp
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Until the page is neither loading nor submitting (or `seconds` pass).
async function settle(comp, seconds = 15) {
  const until = Date.now() + seconds * 1000
  for (;;) {
    const d = comp.instance.data
    if (d.state !== 'loading' && !d.submitting && !d.saving && !d.busy && !d.sending) return
    if (Date.now() > until) throw new Error(`page did not settle: ${JSON.stringify(d).slice(0, 300)}`)
    await pause(50)
  }
}

async function waitFor(check, what, seconds = 15) {
  const until = Date.now() + seconds * 1000
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await pause(50)
  }
}

function find(comp, selector) {
  const found = comp.querySelector(selector)
  if (!found) throw new Error(`nothing matches ${selector}`)
  return found
}

// The text a resident sees on the page (whitespace folded).
function text(comp) {
  return comp.dom.textContent.replace(/\s+/g, ' ').trim()
}

// The rendered page and every style in the document, as a file a browser can open: the
// screenshots a person looks at are made from these (tests/test_miniprogram.py). Each page
// is saved as the resident sees it and again as `<name>-large` in care mode, switched on
// as the home page's switch does it: stored, and the page's own `care` flag set (what it
// does when shown again), so the large version is the page's own rendering in care mode,
// not a class added afterwards.
function save(comp, name) {
  write(comp, name)
  const care = require(path.join(ROOT, 'utils/care'))
  if (care.on() || !('care' in comp.instance.data)) return
  care.set(true)
  comp.instance.setData({ care: true })
  write(comp, `${name}-large`)
  care.set(false)
  comp.instance.setData({ care: false })
}

function write(comp, name) {
  fs.mkdirSync(SCREENS, { recursive: true })
  const styles = [...document.querySelectorAll('style')].map((s) => s.textContent).join('\n')
  const page = comp.dom.cloneNode(true)
  // The QR images are files downloaded with the resident's token (the page's `qr`); the
  // simulator keeps an <image>'s src off the DOM, so the saved page gets it back.
  const qr = comp.instance.data.qr
  for (const image of qr ? page.querySelectorAll('wx-image[class*="qr"]') : []) {
    const shown = document.createElement('img')
    shown.setAttribute('src', `file://${qr}`)
    image.appendChild(shown)
  }
  const html = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=750">
<style>
  html, body { margin: 0; background: #f3f5f8; width: 750px; font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", sans-serif; }
  wx-view, wx-scroll-view, wx-swiper, wx-form { display: block; }
  wx-text, wx-label { display: inline; }
  wx-image { display: inline-block; overflow: hidden; }
  wx-image img { width: 100%; height: 100%; object-fit: contain; }
  wx-button { display: block; }
  wx-input input { border: none; outline: none; font: inherit; background: transparent; width: 100%; }
  wx-input { display: block; min-height: 1.5em; }
  wx-input::before { content: attr(value); }
  wx-input:not([value])::before, wx-input[value=""]::before { content: attr(placeholder); color: #a6adb4; }
  wx-checkbox { display: inline-block; width: 40px; height: 40px; border: 2px solid #8b949e; border-radius: 8px; margin-right: 16px; flex: none; }
  wx-checkbox[checked="true"] { background: #0052d9; border-color: #0052d9; }
  wx-switch { display: inline-block; width: 100px; height: 60px; border-radius: 30px; background: #0052d9; }
  wx-switch[checked="false"], wx-switch:not([checked]) { background: #dcdcdc; }
</style>
<style>${styles}</style></head>
<body>${page.outerHTML}</body></html>`
  fs.writeFileSync(path.join(SCREENS, `${name}.html`), html)
}

module.exports = { open, settle, waitFor, find, text, save, pause, ROOT }

// An event from the element `selector`, as the resident's finger makes it: a TDesign
// component emits it from inside (what bind:tap / bind:click / bind:change listen to); a
// native element dispatches it.
async function fire(comp, selector, event, detail = {}) {
  const found = find(comp, selector)
  if (found.instance && typeof found.instance.triggerEvent === 'function') {
    found.instance.triggerEvent(event, detail)
  } else {
    found.dispatchEvent(event, { detail })
  }
  await pause(20)
}

const tap = (comp, selector, event = 'tap') => fire(comp, selector, event)

// A change (t-input, t-radio-group, t-checkbox, switch) with its `detail`.
const change = (comp, selector, detail) => fire(comp, selector, 'change', detail)

module.exports.tap = tap
module.exports.change = change
