// WeChat's own compilers (wcc, wcsc, bundled with miniprogram-simulate) accept every WXML
// and WXSS file, every page named in app.json exists in full, every component a page uses
// is there, and the vendored TDesign is exactly the library's, less its CDN font.
const fs = require('fs')
const path = require('path')
const { execFileSync } = require('child_process')
const compiler = require('miniprogram-compiler')
const { ROOT } = require('./pages')

const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'))

test('the official compiler accepts every WXML and WXSS file', () => {
  expect(() => compiler.wxmlToJs(ROOT)).not.toThrow()
  expect(() => compiler.wxssToJs(ROOT)).not.toThrow()
})

test('the compiler check would catch a broken template', () => {
  const broken = fs.mkdtempSync(path.join(require('os').tmpdir(), 'wxml-'))
  fs.writeFileSync(path.join(broken, 'page.wxml'), '<view>{{name</view><view>')
  expect(() => compiler.wxmlToJs(broken)).toThrow(/page\.wxml/)
})

test.each(app.pages)('%s has its four files and the components it uses', (page) => {
  for (const ext of ['js', 'json', 'wxml', 'wxss']) {
    expect(fs.existsSync(path.join(ROOT, `${page}.${ext}`))).toBe(true)
  }
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, `${page}.json`), 'utf8'))
  for (const target of Object.values(config.usingComponents || {})) {
    expect(fs.existsSync(path.join(ROOT, `${target}.js`))).toBe(true)
  }
})

test('the vendored TDesign matches the locked library and fetches nothing at run time', () => {
  execFileSync('node', [path.join(ROOT, 'scripts', 'vendor-tdesign.js'), '--check'])
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
  const remote = walk(path.join(ROOT, 'miniprogram_npm'))
    .filter((f) => /\.(wxss|wxml)$/.test(f) && /url\(\s*['"]?https?:/.test(fs.readFileSync(f, 'utf8')))
  expect(remote).toEqual([])
})
