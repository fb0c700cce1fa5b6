"""gunicorn settings of gateway-web (`gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:application`).

gunicorn's own request limits sit above the gateway's (`gateway.limits`), so that an oversized header or
URL reaches Django and answers the error envelope (431, 400) instead of gunicorn's bare page; these are
only the last guard against absurd requests.
"""

from gateway.config import MAX_HEADER_BYTES

limit_request_line = 4 * MAX_HEADER_BYTES
limit_request_field_size = 8 * MAX_HEADER_BYTES
limit_request_fields = 200
