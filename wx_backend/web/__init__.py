"""The HTTP surfaces for people other than residents in the mini-program, and what every
surface shares: the error envelope, input reading and account authentication.

One subpackage per surface: ``staff`` (pharmacy counters), ``community`` (residents'
committees), ``admin`` (editors), ``public`` (pages anyone may read)."""
