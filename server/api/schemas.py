"""JSON Schemas of the request and response bodies (OpenAPI 3.1 components)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

METRICS = (
    "power_output",
    "ground_reaction_force",
    "barbell_velocity",
    "hip_velocity",
    "shin_angle",
    "hip_height",
    "torso_angle",
    "hip_angle",
    "knee_angle",
    "bar_height",
    "barbell_trajectory",
    "vertical_shoulder_height",
)
STATUS = ["queued", "processing", "ready", "failed"]
UNITS = ["metric", "imperial"]
JOINT_NAMES = ("ankle", "knee", "elbow", "hip", "shoulder")
# The server validates with these same patterns, so a request the document calls valid is valid
# and the other way round. They spell characters out instead of using \s and \d, whose meaning
# differs between JSON Schema (ECMA-262: ASCII digits, U+0085 not a space) and Python's re.
BLANK = " \t\n\r\x0b\x0c"
_BLANKS = r"[ \t\n\r\x0b\x0c]*"
NON_BLANK_PATTERN = r"[^ \t\n\r\x0b\x0c]"
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:+-]{1,128}$"
_JOINT = "(" + "|".join(JOINT_NAMES) + ")"
# For the optional form fields a blank value means the default.
JOINTS_PATTERN = f"^{_BLANKS}({_JOINT}{_BLANKS}(,{_BLANKS}{_JOINT}{_BLANKS})*)?$"
NUMBER_PATTERN = f"^{_BLANKS}([0-9]{{1,6}}(\\.[0-9]{{1,6}})?)?{_BLANKS}$"


def nullable(kind: str, description: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], "description": description, **extra}


def series(description: str) -> Schema:
    return {"type": "array", "items": {"type": ["number", "null"]}, "description": description}


def series_group(description: str, names: dict[str, str]) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": {k: series(v) for k, v in names.items()},
        "additionalProperties": {"type": "array", "items": {"type": ["number", "null"]}},
    }


ERROR: Schema = {
    "type": "object",
    "description": "Every error: a stable machine code and a human explanation.",
    "required": ["error", "detail"],
    "properties": {
        "error": {
            "type": "string",
            "description": "Machine-readable code, e.g. 'missing_user_id'.",
        },
        "detail": {"type": "string", "description": "What was wrong, naming the bad value."},
    },
    "additionalProperties": False,
}

CREATE_FORM: Schema = {
    "type": "object",
    "description": "Any other form field is refused (400 invalid_form).",
    "required": ["user_id", "video", "exercise"],
    "additionalProperties": False,
    "properties": {
        "user_id": {
            "type": "string",
            "pattern": f"^{_BLANKS}[A-Za-z0-9_.@:+-]{{1,128}}{_BLANKS}$",
            "description": "Required. The ID of the user for whom this session is created "
            "(1-128 letters, digits or . _ @ : + -). Must be the caller's own id unless the caller "
            "is an admin.",
        },
        "video": {
            "type": "string",
            "format": "binary",
            "description": "Required. The raw video file to be processed (MP4, MOV, WebM, MKV).",
        },
        "title": {
            "type": "string",
            "maxLength": 200,
            "description": "Optional. A descriptive name for the session "
            "(default: '<Exercise> dd/mm/yyyy').",
        },
        "exercise": {
            "type": "string",
            "enum": ["snatch", "clean", "clean_and_jerk"],
            "description": "Required. The name of the exercise.",
        },
        "barbell_mass": {
            "type": "string",
            "pattern": NUMBER_PATTERN,
            "description": "Optional. The mass of the barbell as a numeric string, in the user's "
            "units: kg (metric) or lb (imperial). Defaults to 100 kg (or 220 lb). 1-500 kg.",
        },
        "joints": {
            "type": "string",
            "pattern": JOINTS_PATTERN,
            "description": "Optional. A comma-separated list of joint names from ankle, knee, "
            "elbow, hip, shoulder (e.g. 'ankle,knee,hip'). Default 'hip,knee'.",
        },
        "plate_diameter_mm": {
            "type": "string",
            "pattern": NUMBER_PATTERN,
            "description": "Optional (beyond the seed). Plate diameter for calibration, mm "
            "(100-1000, default 450).",
        },
    },
}

SESSION_CREATED: Schema = {
    "type": "object",
    "required": ["session_id", "title", "status"],
    "properties": {
        "session_id": {
            "type": "string",
            "description": "The unique identifier for the created session.",
        },
        "title": {"type": "string", "description": "The session title (defaults if not provided)."},
        "status": {"type": "string", "enum": STATUS, "description": "Always 'queued' at creation."},
    },
}

SESSION_DETAILS: Schema = {
    "type": "object",
    "required": [
        "session_id",
        "title",
        "exercise",
        "activity",
        "user_id",
        "user_name",
        "status",
        "progress",
        "failure_reason",
        "created_at",
        "session_date",
        "measurement_system",
        "barbell_mass",
        "joints",
        "demo",
        "original_video_url",
        "analyzed_video_url",
        "timestamps",
    ],
    "properties": {
        "session_id": {"type": "string"},
        "title": {"type": "string", "description": "The title of the session."},
        "exercise": {"type": "string", "description": "The exercise performed (e.g. 'snatch')."},
        "activity": {
            "type": "string",
            "description": "Activity type, expected to be 'Weightlifting'.",
        },
        "user_id": {"type": "string"},
        "user_name": nullable(
            "string", "Name of the user associated with the session (profile display name)."
        ),
        "status": {"type": "string", "enum": STATUS, "description": "Processing status."},
        "progress": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Analysis progress, 0-1.",
        },
        "failure_reason": nullable("string", "Why the analysis failed (status 'failed')."),
        "created_at": {"type": "string", "format": "date-time"},
        "session_date": {"type": "string", "description": "dd/mm/yyyy"},
        "measurement_system": {"type": "string", "enum": UNITS},
        "barbell_mass": nullable("number", "Barbell mass in the session's units (kg or lb)."),
        "joints": {"type": "array", "items": {"type": "string"}},
        "demo": {"type": "boolean", "description": "True for the pre-generated demo session."},
        "original_video_url": nullable("string", "Public URL of the original video."),
        "analyzed_video_url": nullable("string", "Public URL of the analyzed video (when ready)."),
        "timestamps": {
            "type": "array",
            "items": {"type": "number"},
            "description": "List of timestamps (s) corresponding to session data (empty until ready).",
        },
    },
}

SESSION_LIST: Schema = {
    "type": "object",
    "required": ["user_id", "sessions", "limit", "offset"],
    "properties": {
        "user_id": {"type": "string"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "sessions": {
            "type": "array",
            "description": "Newest first.",
            "items": {
                "type": "object",
                "required": [
                    "session_id",
                    "title",
                    "exercise",
                    "activity",
                    "status",
                    "progress",
                    "created_at",
                    "session_date",
                ],
                "properties": {
                    "session_id": {"type": "string"},
                    "title": {"type": "string"},
                    "exercise": {"type": "string"},
                    "activity": {"type": "string"},
                    "status": {"type": "string", "enum": STATUS},
                    "progress": {"type": "number"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "session_date": {"type": "string"},
                },
            },
        },
    },
}

SESSION_DATA: Schema = {
    "type": "object",
    "description": "The analysed lift. Series are aligned with `timestamps`; units follow the "
    "session's measurement system (metric: mm, m/s, N, W, degrees; imperial: in, ft/s, lbf, W).",
    "required": [
        "session_id",
        "activity",
        "exercise",
        "timestamps",
        "user_information",
        "session_date",
        "comments",
    ],
    "properties": {
        "session_id": {"type": "string"},
        "activity": {
            "type": "string",
            "description": "The session activity (expected to be 'Weightlifting').",
        },
        "exercise": {"type": "string"},
        "timestamps": {
            "type": "array",
            "items": {"type": "number"},
            "description": "An array of timestamps (in seconds) for the session data.",
        },
        "key_metrics": series_group(
            "Bar kinetics.",
            {
                "power_output": "W, F * v with F = m_bar (g + a_bar).",
                "ground_reaction_force": "N or lbf: estimated system force.",
                "barbell_velocity": "Vertical bar velocity, m/s or ft/s.",
            },
        ),
        "body_positioning": series_group(
            "Body measures.",
            {
                "hip_velocity": "Vertical velocity of the hip midpoint.",
                "shin_angle": "Ankle->knee line against the floor, degrees (90 = vertical).",
                "hip_height": "Hip above the floor, mm or in.",
                "torso_angle": "Hip->shoulder line against the floor, degrees.",
            },
        ),
        "joint_angles": series_group(
            "Interior joint angles, degrees (180 = straight), for the requested joints.",
            {f"{j}_angle": f"{j} angle" for j in ("hip", "knee", "ankle", "elbow", "shoulder")},
        ),
        "barbell_positioning": series_group(
            "Bar position.",
            {
                "bar_height": "Bar centre above the floor.",
                "barbell_trajectory": "Horizontal bar displacement from lift-off (+ = facing direction).",
                "vertical_shoulder_height": "Shoulder above the floor.",
            },
        ),
        "phase_data": {
            "type": "object",
            "description": "Key-frame image per phase boundary event.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "image_url": nullable("string", "Public URL of the key-frame JPEG.")
                },
            },
        },
        "chart_data": {
            "type": "object",
            "description": "Each phase's start and end, ms from the start of the video.",
            "additionalProperties": {
                "type": "object",
                "properties": {"start": {"type": "number"}, "end": {"type": "number"}},
            },
        },
        "user_information": {
            "type": "object",
            "required": ["display_name", "age", "weight", "height"],
            "properties": {
                "display_name": nullable("string", "From the profile."),
                "age": nullable("integer", "Years."),
                "weight": nullable("number", "kg (metric) or lb (imperial)."),
                "height": nullable("number", "cm (metric) or in (imperial)."),
            },
        },
        "session_date": {"type": "string", "description": "dd/mm/yyyy"},
        "comments": {
            "type": "object",
            "description": "metric -> id of the latest generated comment thread ({} before any).",
            "additionalProperties": {"type": "string"},
        },
        "original_video_url": nullable("string", "Public URL of the original video."),
        "analyzed_video_url": nullable("string", "Public URL of the analyzed video."),
    },
}

REPORT: Schema = {
    "type": "object",
    "description": "Lift analysis report from the rules engine: findings citing their numbers.",
    "required": ["session_id", "exercise", "measurement_system"],
    "properties": {
        "session_id": {"type": "string"},
        "exercise": {"type": "string"},
        "measurement_system": {"type": "string", "enum": UNITS},
    },
    "additionalProperties": True,
}

SUMMARY: Schema = {
    "type": "object",
    "description": "Session summary from the rules engine.",
    "required": ["session_id", "exercise", "session_date", "measurement_system"],
    "properties": {
        "session_id": {"type": "string"},
        "exercise": {"type": "string", "description": "Type of lift/exercise performed."},
        "session_date": {
            "type": "string",
            "description": "Date of the session (e.g. '07/04/2025').",
        },
        "measurement_system": {"type": "string", "enum": UNITS},
    },
    "additionalProperties": True,
}

THREADS_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "measurement_system": {
            "type": "string",
            "enum": UNITS,
            "description": "Measurement system used inside the messages (default: the session's).",
        }
    },
}

COMMENT_THREAD_IDS: Schema = {
    "type": "object",
    "description": "metric -> new thread id, one per metric.",
    "required": list(METRICS),
    "properties": {m: {"type": "string"} for m in METRICS},
    "additionalProperties": {"type": "string"},
}

SUMMARY_THREAD_IDS: Schema = {
    "type": "object",
    "description": "summary topic -> new thread id.",
    "additionalProperties": {"type": "string"},
}

MESSAGE: Schema = {
    "type": "object",
    "required": ["message_id", "author", "role", "text", "created_at"],
    "properties": {
        "message_id": {"type": "integer"},
        "author": {"type": "string"},
        "role": {"type": "string", "enum": ["coach", "user"]},
        "text": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

THREAD: Schema = {
    "type": "object",
    "required": [
        "thread_id",
        "session_id",
        "kind",
        "topic",
        "measurement_system",
        "created_at",
        "messages",
    ],
    "properties": {
        "thread_id": {"type": "string"},
        "session_id": {"type": "string"},
        "kind": {"type": "string", "enum": ["analysis", "summary"]},
        "topic": {"type": "string"},
        "measurement_system": {"type": "string", "enum": UNITS},
        "created_at": {"type": "string", "format": "date-time"},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
    },
}

REPLY: Schema = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4000,
            "pattern": NON_BLANK_PATTERN,
            "description": "The reply, not all blank (surrounding blanks are dropped).",
        }
    },
}

PROFILE: Schema = {
    "type": "object",
    "required": [
        "user_id",
        "display_name",
        "age",
        "weight_kg",
        "height_cm",
        "measurement_system",
        "plan",
        "effective_plan",
    ],
    "properties": {
        "user_id": {"type": "string"},
        "display_name": nullable("string", "Shown as user_information.display_name."),
        "age": nullable("integer", "Years."),
        "weight_kg": nullable("number", "Body mass, kg."),
        "height_cm": nullable("number", "Height, cm (fallback calibration)."),
        "measurement_system": {"type": "string", "enum": UNITS},
        "plan": nullable("string", "The stored plan (free, basic, pro)."),
        "effective_plan": {"type": "string", "description": "The plan in force for this caller."},
    },
}

PROFILE_UPDATE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "display_name": nullable(
            "string",
            "1-200 characters, not all blank.",
            minLength=1,
            maxLength=200,
            pattern=NON_BLANK_PATTERN,
        ),
        "age": nullable("integer", "5-120.", minimum=5, maximum=120),
        "weight_kg": nullable("number", "20-400.", minimum=20, maximum=400),
        "height_cm": nullable("number", "80-260.", minimum=80, maximum=260),
        "measurement_system": {"type": "string", "enum": UNITS},
        "plan": nullable("string", "Admins only.", enum=["free", "basic", "pro", None]),
    },
}

HEALTH: Schema = {
    "type": "object",
    "required": ["status", "database", "jobs_waiting", "auth_mode"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "database": {"type": "string", "enum": ["ok", "unavailable"]},
        "jobs_waiting": {"type": "boolean"},
        "auth_mode": {"type": "string", "enum": ["local", "firebase"]},
        "firebase": {
            "type": "object",
            "description": "Firebase mode only: what the web client needs to sign in.",
            "required": ["api_key", "emulator_host"],
            "properties": {
                "api_key": nullable("string", "The Firebase project's web API key."),
                "emulator_host": nullable(
                    "string", "host:port of the Firebase Auth emulator (emulator mode only)."
                ),
            },
        },
    },
}

COMPONENTS: dict[str, Schema] = {
    "Error": ERROR,
    "CreateSessionForm": CREATE_FORM,
    "SessionCreated": SESSION_CREATED,
    "SessionDetails": SESSION_DETAILS,
    "SessionList": SESSION_LIST,
    "SessionData": SESSION_DATA,
    "Report": REPORT,
    "Summary": SUMMARY,
    "ThreadsRequest": THREADS_REQUEST,
    "CommentThreadIds": COMMENT_THREAD_IDS,
    "SummaryThreadIds": SUMMARY_THREAD_IDS,
    "Message": MESSAGE,
    "Thread": THREAD,
    "Reply": REPLY,
    "Profile": PROFILE,
    "ProfileUpdate": PROFILE_UPDATE,
    "Health": HEALTH,
}
