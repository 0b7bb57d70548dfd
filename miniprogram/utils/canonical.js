// What a resident types, in the one form the API takes (the server's rules:
// wx_backend/identity/residents.py; the contract: wx_backend/web/input.py). The API refuses
// other spellings, so the form writes them the server's way before sending: NFKC (full-width
// digits, letters and punctuation become ASCII), then each field's own rule. Nothing is
// guessed: characters the server refuses (another script's digits, invisible ones in a
// number) are sent as typed, and its answer says what is wrong beside the field.
const MIDDLE_DOTS = /[•・‧．∙⋅]/g
// Characters that print nothing (Unicode's format characters in the BMP: soft hyphen,
// zero-width spaces and joiners, direction marks, the byte-order mark, …).
const INVISIBLE = /[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g

function nfkc(raw) {
  return String(raw == null ? '' : raw).normalize('NFKC')
}

// A name as on the card: trimmed, one space between Latin words, · between the parts of a
// minority name.
function name(raw) {
  return nfkc(raw).trim().replace(MIDDLE_DOTS, '·').replace(/\s+/g, ' ')
}

// An ID number: no spaces or dashes, an upper-case X.
function idNumber(raw) {
  return nfkc(raw).replace(/[ \t\r\n-]/g, '').toUpperCase()
}

// A mainland mobile number: 11 digits, without separators or the +86 the phone may add.
function phone(raw) {
  const digits = nfkc(raw).replace(/[ \t\r\n()-]/g, '')
  for (const prefix of ['+86', '0086', '86']) {
    if (digits.startsWith(prefix) && digits.length === 11 + prefix.length) return digits.slice(prefix.length)
  }
  return digits
}

// An SMS code: six digits, however the keyboard wrote them.
function smsCode(raw) {
  return nfkc(raw).replace(/\s/g, '')
}

// An address: invisible characters dropped, spaces collapsed, trimmed.
function address(raw) {
  return nfkc(raw).replace(INVISIBLE, '').replace(/\s+/g, ' ').trim()
}

module.exports = { name, idNumber, phone, smsCode, address }
