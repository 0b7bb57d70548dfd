#!/usr/bin/env node
// Copies the TDesign components the pages use, and what they need, from node_modules into
// miniprogram_npm/ — what WeChat DevTools' "build npm" would do, limited to what we use.
// One change to the library: the icon font's @font-face points at Tencent's CDN, and a
// mini-program must not fetch fonts at run time, so its remote URLs are removed (no page
// uses an icon glyph; the components that can show one are given none).
// `node scripts/vendor-tdesign.js --check` exits 1 if the committed copy differs.
const fs = require('fs')
const path = require('path')

const USED = ['button', 'input', 'cell', 'cell-group', 'tag', 'loading', 'empty', 'radio',
  'radio-group']
const DIST = path.join(__dirname, '..', 'node_modules', 'tdesign-miniprogram', 'miniprogram_dist')
const TARGET = path.join(__dirname, '..', 'miniprogram_npm')
const NPM_DEPS = ['tslib']

function componentsNeeded() {
  const seen = new Set()
  const queue = [...USED]
  while (queue.length) {
    const name = queue.pop()
    if (seen.has(name)) continue
    seen.add(name)
    const json = JSON.parse(fs.readFileSync(path.join(DIST, name, `${name}.json`), 'utf8'))
    for (const target of Object.values(json.usingComponents || {})) {
      const dep = path.normalize(path.join(name, target)).split(path.sep)[0]
      if (dep !== name) queue.push(dep)
    }
  }
  return [...seen].sort()
}

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? files(full) : [full]
  })
}

function wanted() {
  const out = new Map()
  const add = (from, to) => {
    for (const file of files(from)) {
      if (file.endsWith('.d.ts')) continue
      let text = fs.readFileSync(file)
      if (file.endsWith(path.join('icon', 'icon.wxss'))) {
        text = Buffer.from(text.toString('utf8')
          .replace(/@font-face\s*\{[^}]*\}/g, '/* font from a CDN removed: no glyph icons */'))
      }
      out.set(path.join(to, path.relative(from, file)), text)
    }
  }
  for (const name of ['common', ...componentsNeeded()]) {
    add(path.join(DIST, name), path.join(TARGET, 'tdesign-miniprogram', name))
  }
  for (const dep of NPM_DEPS) {
    add(path.join(DIST, 'miniprogram_npm', dep), path.join(TARGET, dep))
  }
  return out
}

const expected = wanted()
if (process.argv.includes('--check')) {
  const present = fs.existsSync(TARGET) ? files(TARGET) : []
  const differs = present.filter((f) => !expected.has(f) || !expected.get(f).equals(fs.readFileSync(f)))
  const missing = [...expected.keys()].filter((f) => !fs.existsSync(f))
  if (differs.length || missing.length) {
    console.error('miniprogram_npm differs from the vendored TDesign:', [...differs, ...missing].slice(0, 10))
    process.exit(1)
  }
  console.log(`miniprogram_npm matches TDesign ${require('tdesign-miniprogram/package.json').version}`)
} else {
  fs.rmSync(TARGET, { recursive: true, force: true })
  for (const [file, text] of expected) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, text)
  }
  console.log(`vendored ${expected.size} files into ${path.relative(process.cwd(), TARGET)}`)
}
