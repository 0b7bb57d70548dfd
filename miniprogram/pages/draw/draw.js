// One draw as it was published, inside the mini-program: what was committed before the
// draw (how many entries, how many win), the public value chosen at the draw, how many
// won, and the resident's own line of the ranking with their rank. The fingerprints let
// anyone compare with what the notary published; the page shows no web address.
const { request } = require('../../utils/request')
const page = require('../../behaviors/page')
const format = require('../../utils/format')
const { grouped, publicValue } = require('../../utils/entries')

Component({
  behaviors: [page],
  data: { draw: null, lines: [], value: null, fingerprints: [] },
  methods: {
    async fetch(query) {
      const draw = await request({ path: `/draws/${Number(query.id)}` })
      this.setData({
        draw: {
          ...draw,
          committedText: format.moment(draw.committed_at),
          drawnText: format.moment(draw.drawn_at),
        },
        value: draw.public_value ? publicValue(draw.public_value) : null,
        lines: draw.mine.map((line) => ({
          ...line,
          resultText: line.won === null ? '已在本期名单中，等待开奖'
            : line.won ? '中签' : '未中签，已自动参加下一期',
          scoreText: line.score ? grouped(line.score.slice(0, 16)) : '',
        })),
        fingerprints: [
          { label: '承诺文件', text: grouped(draw.commitment_sha256) },
          { label: '全部摇号编号', text: grouped(draw.entries_sha256) },
        ],
      })
    },
  },
})
