"""The OpenAPI 3.1 document: every operation, field, status code (with the seed's reasons) and example."""

from __future__ import annotations

import copy
from typing import Any

from server.api.schemas import COMPONENTS, METRICS, USER_ID_PATTERN, Schema

API = "/api/v1"
JSON = "application/json"

SEED_EXAMPLE: dict[str, Any] = {
    "session_id": "3f2b8c1e9d4a4e0f8a6b2c7d1e5f9a0b",
    "activity": "Weightlifting",
    "exercise": "snatch",
    "timestamps": [0.0, 0.033, 0.067, 0.1, 0.133],
    "key_metrics": {
        "power_output": [2350, 2425, 2510, 2600, 2705],
        "ground_reaction_force": [1120, 1180, 1215, 1260, 1300],
        "barbell_velocity": [0.90, 1.05, 1.28, 1.55, 2.02],
    },
    "body_positioning": {
        "hip_velocity": [0.45, 0.52, 0.60],
        "shin_angle": [75.0, 72.5, 70.2],
        "hip_height": [450, 455, 468],
        "torso_angle": [40.0, 38.5, 36.8],
    },
    "joint_angles": {"hip_angle": [165, 159, 152], "knee_angle": [155, 147, 138]},
    "barbell_positioning": {
        "bar_height": [120, 385, 610],
        "barbell_trajectory": [0, -8, -2],
        "vertical_shoulder_height": [1380, 1400, 1440],
    },
    "phase_data": {
        "start_of_lifting": {
            "image_url": "https://liftstream.example/media/Xb3…/phases/start_of_lifting.jpg"
        },
        "first_pull_end": {
            "image_url": "https://liftstream.example/media/Xb3…/phases/first_pull_end.jpg"
        },
    },
    "chart_data": {"setup": {"start": 0, "end": 536}, "first_pull": {"start": 536, "end": 952}},
    "user_information": {"display_name": "Ahror Jabborov", "age": 28, "weight": 75, "height": 178},
    "session_date": "18/05/2025",
    "comments": {},
}

DEMO_PARAM = {
    "name": "demo",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["true", "false", "1", "0"], "default": "false"},
    "description": "Set to true to retrieve the pre-generated demo session instead of a real one. "
    "The demo is a simulated snatch rendered by the project's synthetic-lift generator and analysed "
    "once by the real pipeline (cached afterwards); the path's session_id is then ignored and every "
    "authenticated user may read it whatever their plan.",
}
SESSION_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "Path parameter: the session id returned by 'create session'.",
}
DISPLAY_UNITS = {
    "name": "measurement_system",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["metric", "imperial"]},
    "description": "The unit system of the texts and numbers (beyond the seed); default: the "
    "session's own.",
}
THREAD_ID = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string"}}
USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": USER_ID_PATTERN},
}
NO_AUTH: list[dict[str, list[str]]] = []


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def err(description: str, code: str, detail: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": ref("Error"), "example": {"error": code, "detail": detail}}},
    }


def ok(description: str, schema: str, example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": ref(schema)}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {JSON: content}}


UNAUTHORIZED = err(
    "Unauthorized - Missing or invalid access token (missing, malformed, expired, bad signature, revoked).",
    "expired_token",
    "the token has expired; mint a new one",
)
INTERNAL = err(
    "Internal Server Error - An unexpected error occurred on the server (no stack trace is returned).",
    "internal_error",
    "an unexpected error occurred; it has been logged",
)


def _errors(e400: str, e403: str, e404: str) -> dict[str, Any]:
    return {
        "400": err(e400, "invalid_parameter", "demo='maybe': use true or false"),
        "401": UNAUTHORIZED,
        "403": err(e403, "not_admin", "user 'ana' may not act for user 'bob': that needs admin"),
        "404": err(e404, "session_not_found", "no session 'abc'"),
        "500": INTERNAL,
    }


def _sessions_paths() -> dict[str, Any]:
    create = {
        "post": {
            "tags": ["sessions"],
            "operationId": "createSession",
            "summary": "Create a video-processing session",
            "description": "Uploads a lift video (streamed to storage, never held in memory) and queues "
            "its analysis. Returns the id at once; poll the details for status and progress.",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": ref("CreateSessionForm"),
                        "encoding": {
                            "video": {
                                "contentType": "video/mp4, video/quicktime, video/webm, application/octet-stream"
                            }
                        },
                    }
                },
            },
            "responses": {
                "200": ok(
                    "Video processing session created successfully (HTTP 200).",
                    "SessionCreated",
                    {
                        "session_id": "3f2b8c1e9d4a4e0f8a6b2c7d1e5f9a0b",
                        "title": "Snatch 18/05/2025",
                        "status": "queued",
                    },
                ),
                "400": err(
                    "Bad Request - Possibly due to missing user_id, missing video, or invalid form data "
                    "(codes: missing_user_id, missing_video, invalid_form, invalid_exercise, "
                    "invalid_barbell_mass, invalid_joints).",
                    "missing_user_id",
                    "the form field user_id is required",
                ),
                "401": UNAUTHORIZED,
                "403": err(
                    "Forbidden - The user does not have admin permission to create sessions for others.",
                    "not_admin",
                    "user 'ana' may not act for user 'bob': that needs admin",
                ),
                "404": err(
                    "Not Found - Indicates business logic issues or resource limitations (e.g., session limit).",
                    "session_limit",
                    "user 'ana' has created 5 sessions in the last 30 days, the limit of plan 'free'",
                ),
                "413": err(
                    "Payload Too Large - the upload exceeds the server's limit (LIFTSTREAM_MAX_UPLOAD_MB).",
                    "upload_too_large",
                    "the upload (2147483649 bytes or more) exceeds the limit of 2147483648 bytes",
                ),
                "500": INTERNAL,
            },
        },
        "get": {
            "tags": ["sessions"],
            "operationId": "listSessions",
            "summary": "List a user's sessions, newest first (beyond the seed)",
            "parameters": [
                {
                    "name": "user_id",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": USER_ID_PATTERN},
                    "description": "Default: the caller. Another user needs admin.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
                },
            ],
            "responses": {
                "200": ok("The sessions.", "SessionList"),
                "400": err(
                    "Bad Request - Invalid parameters.",
                    "invalid_parameter",
                    "limit=0 must be between 1 and 200",
                ),
                "401": UNAUTHORIZED,
                "403": err(
                    "Forbidden - listing another user's sessions needs admin.", "not_admin", "..."
                ),
                "500": INTERNAL,
            },
        },
    }
    details = {
        "get": {
            "tags": ["sessions"],
            "operationId": "getSession",
            "summary": "Session details",
            "description": "Weightlifting session details, with processing status and progress.",
            "parameters": [SESSION_ID, DEMO_PARAM],
            "responses": {
                "200": ok(
                    "Weightlifting session details retrieved successfully.", "SessionDetails"
                ),
                **_errors(
                    "Bad Request - Invalid parameters or admin UID.",
                    "Forbidden - Insufficient privileges (another user's session, not admin).",
                    "Not Found - Session not found or invalid activity.",
                ),
            },
        }
    }
    data = {
        "get": {
            "tags": ["sessions"],
            "operationId": "getSessionData",
            "summary": "Session data",
            "description": "The analysed lift (the seed's example document). 404 also while the "
            "session is still queued or processing, or when it failed (codes session_not_ready, "
            "session_failed).",
            "parameters": [SESSION_ID, DEMO_PARAM],
            "responses": {
                "200": ok(
                    "Weightlifting session data retrieved successfully.",
                    "SessionData",
                    SEED_EXAMPLE,
                ),
                **_errors(
                    "Bad Request - Invalid parameters or admin UID error.",
                    "Forbidden - User does not have sufficient privileges.",
                    "Not Found - The session was not found or its activity is not 'Weightlifting'.",
                ),
            },
        }
    }
    report = {
        "get": {
            "tags": ["analysis"],
            "operationId": "getReport",
            "summary": "Lift analysis report",
            "description": "Findings from the rules engine (documented thresholds), each citing its "
            "numbers. Needs a plan with the report (basic, pro).",
            "parameters": [
                SESSION_ID,
                {
                    **DEMO_PARAM,
                    "description": "Set to true to retrieve the pre-generated demo lift analysis instead of a real one.",
                },
                DISPLAY_UNITS,
            ],
            "responses": {
                "200": ok("Lift analysis report generated successfully.", "Report"),
                **_errors(
                    "Bad Request - Invalid token or parameters.",
                    "Forbidden - Admin access is required.",
                    "Not Found - Session not found or user does not have a valid payment plan.",
                ),
            },
        }
    }
    return {
        f"{API}/sessions": create,
        f"{API}/sessions/{{session_id}}": details,
        f"{API}/sessions/{{session_id}}/data": data,
        f"{API}/sessions/{{session_id}}/report": report,
    }


def _thread_paths() -> dict[str, Any]:
    body = {
        "required": False,
        "content": {
            JSON: {"schema": ref("ThreadsRequest"), "example": {"measurement_system": "metric"}}
        },
    }
    units_query = {
        "name": "measurement_system",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["metric", "imperial"]},
        "description": "Alternative to the body field.",
    }
    e = _errors(
        "Bad Request - Invalid token or parameters.",
        "Forbidden - Admin access is required.",
        "Not Found - Session not found or user does not have a valid payment plan.",
    )
    comment = {
        "post": {
            "tags": ["threads"],
            "operationId": "createCommentThreads",
            "summary": "Generate lift-analysis comment threads",
            "description": "One thread per metric; each opens with the rules engine's comment. "
            "Needs a plan with comment threads (basic, pro).",
            "parameters": [SESSION_ID, units_query],
            "requestBody": body,
            "responses": {
                "200": ok(
                    "Threads created successfully.",
                    "CommentThreadIds",
                    {m: f"thread_{i:012x}" for i, m in enumerate(METRICS)},
                ),
                **e,
            },
        }
    }
    summary_threads = {
        "post": {
            "tags": ["threads"],
            "operationId": "createSummaryThreads",
            "summary": "Generate summary threads",
            "description": "Needs a plan with the summary (pro).",
            "parameters": [SESSION_ID, units_query],
            "requestBody": body,
            "responses": {
                "200": ok("Summary threads generated successfully.", "SummaryThreadIds"),
                **e,
            },
        }
    }
    summary = {
        "get": {
            "tags": ["analysis"],
            "operationId": "getSummary",
            "summary": "Session summary",
            "parameters": [
                SESSION_ID,
                {
                    **DEMO_PARAM,
                    "description": "Set to true to retrieve a pre-generated demo summary for this weightlifting session.",
                },
                DISPLAY_UNITS,
            ],
            "responses": {
                "200": ok("Successfully retrieved weightlifting session summary", "Summary"),
                "400": err(
                    "Bad Request - Invalid parameters.",
                    "invalid_parameter",
                    "demo='x': use true or false",
                ),
                "401": err(
                    "Unauthorized - Token missing or expired.",
                    "missing_token",
                    "an Authorization: Bearer <token> header is required",
                ),
                "403": err(
                    "Forbidden - User lacks a valid payment plan (or another user's session).",
                    "no_valid_plan",
                    "the summary needs a plan that includes it; user 'ana' is on plan 'free'",
                ),
                "404": err(
                    "Not Found - Session not located.", "session_not_found", "no session 'abc'"
                ),
                "500": err(
                    "Internal Server Error.",
                    "internal_error",
                    "an unexpected error occurred; it has been logged",
                ),
            },
        }
    }
    thread_e = {
        "400": err(
            "Bad Request - invalid body.",
            "invalid_body",
            "the body needs a non-empty string field 'text'",
        ),
        "401": UNAUTHORIZED,
        "403": err("Forbidden - another user's thread (not admin).", "not_admin", "..."),
        "404": err(
            "Not Found - no such thread, or no valid plan.",
            "thread_not_found",
            "no thread 'thread_x'",
        ),
        "500": INTERNAL,
    }
    thread = {
        "get": {
            "tags": ["threads"],
            "operationId": "getThread",
            "summary": "Read a thread (beyond the seed)",
            "parameters": [THREAD_ID],
            "responses": {
                "200": ok("The thread with its messages, oldest first.", "Thread"),
                **thread_e,
            },
        }
    }
    reply = {
        "post": {
            "tags": ["threads"],
            "operationId": "replyToThread",
            "summary": "Reply to a thread (beyond the seed)",
            "parameters": [THREAD_ID],
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": ref("Reply"),
                        "example": {"text": "Thanks, I'll keep the bar closer."},
                    }
                },
            },
            "responses": {"200": ok("The thread including the new message.", "Thread"), **thread_e},
        }
    }
    return {
        f"{API}/sessions/{{session_id}}/comment-threads": comment,
        f"{API}/sessions/{{session_id}}/summary": summary,
        f"{API}/sessions/{{session_id}}/summary-threads": summary_threads,
        f"{API}/threads/{{thread_id}}": thread,
        f"{API}/threads/{{thread_id}}/messages": reply,
    }


def _other_paths() -> dict[str, Any]:
    profile_e = {
        "400": err(
            "Bad Request - invalid user id or body.",
            "invalid_body",
            "age 300 must be a number from 5 to 120",
        ),
        "401": UNAUTHORIZED,
        "403": err(
            "Forbidden - another user's profile, or changing a plan, without admin.",
            "not_admin",
            "only an admin may change a user's plan",
        ),
        "500": INTERNAL,
    }
    return {
        f"{API}/users/{{user_id}}/profile": {
            "get": {
                "tags": ["users"],
                "operationId": "getProfile",
                "summary": "A user's profile (beyond the seed)",
                "parameters": [USER_ID],
                "responses": {"200": ok("The profile.", "Profile"), **profile_e},
            },
            "put": {
                "tags": ["users"],
                "operationId": "updateProfile",
                "summary": "Update a user's profile (beyond the seed)",
                "description": "Fields given are set (null clears); `plan` needs admin.",
                "parameters": [USER_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": ref("ProfileUpdate"),
                            "example": {
                                "display_name": "Ahror Jabborov",
                                "age": 28,
                                "weight_kg": 75,
                                "height_cm": 178,
                            },
                        }
                    },
                },
                "responses": {"200": ok("The updated profile.", "Profile"), **profile_e},
            },
        },
        "/healthz": {
            "get": {
                "tags": ["service"],
                "operationId": "healthz",
                "summary": "Liveness and database check",
                "security": NO_AUTH,
                "responses": {
                    "200": ok("Healthy.", "Health"),
                    "503": ok("The database does not answer.", "Health"),
                },
            }
        },
        "/media/{key}": {
            "get": {
                "tags": ["service"],
                "operationId": "getMedia",
                "summary": "A media file (video or key-frame image) by its unguessable URL",
                "description": "No bearer token: the URL is the credential. Signed URLs carry "
                "`expires` and `sig`. Range requests are supported.",
                "security": NO_AUTH,
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "expires",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {"name": "sig", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The file.",
                        "content": {
                            "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "206": {
                        "description": "Part of the file (Range request).",
                        "content": {
                            "video/mp4": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "403": err(
                        "Forbidden - bad or expired signature.",
                        "invalid_media_url",
                        "media URL rejected: expired",
                    ),
                    "404": err("Not Found - no such media.", "media_not_found", "no such media"),
                    "416": {"description": "Range Not Satisfiable."},
                },
            }
        },
    }


def build_openapi(server_url: str | None = None) -> dict[str, Any]:
    """The whole document (a fresh copy each call, safe to mutate)."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "LiftStream Weightlifting API",
            "version": "1.0.0",
            "description": "Upload a snatch, clean or clean and jerk video and read the analysed "
            "lift: bar and body kinematics, phases, key frames, a rules-based report, comment "
            "threads and a summary. Errors are JSON {error, detail}. Bearer tokens: Firebase ID "
            "tokens (firebase mode) or tokens from `liftstream token create` (local mode).",
        },
        "paths": {**_sessions_paths(), **_thread_paths(), **_other_paths()},
        "components": {
            "schemas": copy.deepcopy(COMPONENTS),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Enter your bearer token (Firebase auth or local) in the format: Bearer <token>",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
