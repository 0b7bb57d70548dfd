"""Who is who: residents and their real-name profile, login sessions, password accounts of
staff, editors and community workers, and registration on a resident's behalf."""
