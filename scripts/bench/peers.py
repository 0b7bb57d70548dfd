"""The two peers the booking benchmark measures beside the real booking path.

- ``POST /ceiling/<store>``: a bare Flask view doing one Redis Lua call (take one unit if
  any is left), no authentication and no durable record: the fastest a booking could be.
- ``POST /db/<store>``: the booking as one PostgreSQL transaction, the way a plain web app
  does it: a conditional stock decrement and a booking row unique per person.

Run under gunicorn with the same workers and threads as the real server.
"""

import os

import redis
from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

app = Flask(__name__)
client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"], decode_responses=True)
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=10, max_overflow=0)
take = client.register_script("""
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
""")


@app.post("/ceiling/<int:store>")
def ceiling(store):
    body = request.get_json()
    left = take(keys=["bench:ceiling:stock"])
    if left < 0:
        return jsonify(error={"code": "sold_out"}), 409
    return jsonify(store=body["store_id"], left=left), 201


@app.post("/db/<int:store>")
def database(store):
    body = request.get_json()
    person = request.headers["X-Person"]
    try:
        with engine.begin() as connection:
            left = connection.execute(text(
                "UPDATE bench_stock SET units = units - 1 WHERE store_id = :store AND units > 0"
                " RETURNING units"), {"store": body["store_id"]}).scalar()
            if left is None:
                return jsonify(error={"code": "sold_out"}), 409
            booking = connection.execute(text(
                "INSERT INTO bench_bookings (person, store_id) VALUES (:person, :store)"
                " RETURNING id"), {"person": person, "store": body["store_id"]}).scalar()
    except IntegrityError:
        return jsonify(error={"code": "already_booked"}), 409
    return jsonify(id=booking, store=body["store_id"]), 201
