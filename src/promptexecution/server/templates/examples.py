"""The spec's example templates, seeded into the local account on first start, so every
example in the spec runs against a fresh server as written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.clock import to_micros
from .store import TemplateRecord

if TYPE_CHECKING:
    from ..context import ServerContext


def _var(name: str, type: str = "string", required: bool = True, description: str = "",
         default: Any = None) -> dict[str, Any]:
    var: dict[str, Any] = {"name": name, "type": type, "required": required}
    if description:
        var["description"] = description
    if default is not None:
        var["default"] = default
        var["required"] = False
    return var


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


SUPPORT_CATEGORIES = ("billing", "shipping", "technical", "general")

DEMO_TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "greeting_template",
        "description": "A short, warm greeting for one person",
        "prompt": "Write a warm, two-sentence greeting for {{ name }}.",
        "variables": [_var("name", description="Who to greet")],
        "tags": ["demo", "greeting"],
    },
    {
        "name": "blog_post_seo_v2",
        "description": "SEO-optimised blog post on a topic with target keywords",
        "prompt": (
            "Write a {{ word_count }}-word blog post about {{ topic }} in a {{ tone }} tone.\n"
            "Work these keywords in naturally: {{ keywords | join(', ') }}.\n"
            "Use a compelling title, short sections with headings, and a closing call to action."
        ),
        "variables": [
            _var("topic", description="What the post is about"),
            _var("keywords", "array", description="SEO keywords to include"),
            _var("tone", default="professional"),
            _var("word_count", "integer", default=1000),
        ],
        "default_config": {"temperature": 0.7, "max_tokens": 2000},
        "tags": ["content", "seo", "blog"],
    },
    {
        "name": "product_description_v3",
        "description": "Product description for a target audience",
        "prompt": (
            "Write a product description for {{ product_name }} aimed at {{ target_audience }}.\n"
            "Tone: {{ tone }}.\nHighlight these features:\n"
            "{% for feature in key_features %}- {{ feature }}\n{% endfor %}"
        ),
        "variables": [
            _var("product_name"),
            _var("key_features", "array"),
            _var("target_audience"),
            _var("tone", default="professional"),
        ],
        "default_config": {"temperature": 0.8, "max_tokens": 500},
        "output_schema": {
            "properties": {
                "headline": {"type": "string"},
                "description": {"type": "string"},
                "highlights": {"type": "array"},
            }
        },
        "tags": ["content", "ecommerce"],
    },
    {
        "name": "support_classification_v3",
        "description": "Classifies a customer message by category and urgency (JSON)",
        "prompt": (
            "Classify this customer message from a {{ customer_tier }} customer.\n"
            "Answer in JSON with category (billing, shipping, technical, general) and urgency "
            "(low, medium, high).\n\nMessage: {{ message }}"
        ),
        "variables": [_var("message"), _var("customer_tier", default="standard")],
        "default_config": {"temperature": 0.1, "response_format": "json"},
        "output_schema": {
            "properties": {
                "category": _enum(*SUPPORT_CATEGORIES),
                "urgency": _enum("low", "medium", "high"),
                "confidence": {"type": "number"},
                "summary": {"type": "string"},
            }
        },
        "tags": ["support", "classification"],
    },
    *[
        {
            "name": f"support_response_{category}",
            "description": f"Reply to a {category} support request",
            "prompt": (
                f"Write a helpful reply to {{{{ customer_name }}}} about their {category} "
                "request. Urgency: {{ urgency }}.\n\nTheir message: {{ message }}"
            ),
            "variables": [
                _var("message"),
                _var("urgency", default="medium"),
                _var("customer_name", default="valued customer"),
            ],
            "tags": ["support", "response"],
        }
        for category in SUPPORT_CATEGORIES
    ],
    {
        "name": "sentiment_analysis_detailed_v1",
        "description": "Detailed sentiment analysis of one product review",
        "prompt": (
            "Analyse the sentiment of this {{ product_category }} review. Give the overall "
            "sentiment, confidence, key themes and a recommended action.\n\n"
            "Review: {{ review_text }}"
        ),
        "variables": [_var("review_text"), _var("product_category", default="general")],
        "default_config": {"temperature": 0.3, "response_format": "structured"},
        "output_schema": {
            "properties": {
                "sentiment": _enum("positive", "neutral", "negative"),
                "confidence": {"type": "number"},
                "key_themes": {"type": "array"},
                "recommended_action": {"type": "string"},
            }
        },
        "tags": ["analytics", "sentiment", "reviews"],
    },
    {
        "name": "customer_sentiment_analysis",
        "description": "Sentiment of customer feedback by segment",
        "prompt": (
            "Sentiment analysis for feedback from a {{ customer_segment }} customer:\n\n"
            "{{ feedback_text }}\n\nGive the overall sentiment, confidence, key themes and a "
            "recommended action."
        ),
        "variables": [_var("feedback_text"), _var("customer_segment", default="standard")],
        "default_config": {"temperature": 0.2, "max_tokens": 300},
        "tags": ["analytics", "sentiment", "feedback"],
    },
    {
        "name": "product_review_summary",
        "description": "Summarizes product reviews with sentiment analysis",
        "prompt": (
            "Analyze these product reviews for {{product_name}}:\n\n{{reviews}}\n\nProvide:\n"
            "1. Overall sentiment (positive/negative/neutral)\n2. Key themes\n"
            "3. Improvement suggestions\n4. Rating prediction (1-5 stars)"
        ),
        "variables": [
            _var("product_name", description="Name of the product being reviewed"),
            _var("reviews", description="Concatenated customer reviews"),
        ],
        "default_config": {"temperature": 0.3, "max_tokens": 800, "response_format": "structured"},
        "tags": ["analytics", "reviews", "sentiment"],
    },
    {
        "name": "customer_email_response",
        "description": "Generates professional customer service responses",
        "prompt": "Reply to customer {{customer_name}}: {{message}} in {{tone}} tone",
        "variables": [_var("customer_name"), _var("message"), _var("tone")],
        "default_config": {"temperature": 0.7, "max_tokens": 1000},
        "tags": ["customer-service", "email", "v2"],
    },
    {
        "name": "customer_response_template",
        "description": "A short answer to a customer question",
        "prompt": "Answer this customer question in a {{ tone }} way: {{ message }}",
        "variables": [_var("message"), _var("tone", default="helpful")],
        "tags": ["customer-service"],
    },
    {
        "name": "sentiment_analysis",
        "description": "One-line sentiment of a text",
        "prompt": "What is the sentiment of this text? {{ text }}",
        "variables": [_var("text")],
        "tags": ["analytics", "sentiment"],
    },
    {
        "name": "analysis_template",
        "description": "General analysis of some data",
        "prompt": "Analyse the following data and list the main findings:\n\n{{ data }}",
        "variables": [_var("data", description="The data, as text")],
        "tags": ["analytics"],
    },
    {
        "name": "weekly_report",
        "description": "A report over a date range (shows dotted variable access)",
        "prompt": (
            "Write a weekly report from {{ date_range.start }} to {{ date_range.end }} "
            "covering: {{ metrics | join(', ') }}."
        ),
        "variables": [
            _var("date_range", "object", description='{"start": ..., "end": ...}'),
            _var("metrics", "array", default=["revenue", "signups"]),
        ],
        "tags": ["reports"],
    },
    {
        "name": "blog_post_generator",
        "description": "Workflow step: draft a post",
        "prompt": "Write a blog post of about {{ target_length }} words about {{ topic }}.",
        "variables": [_var("topic"), _var("target_length", "integer", default=1500)],
        "tags": ["content", "workflow"],
    },
    {
        "name": "content_quality_reviewer",
        "description": "Workflow step: score a draft",
        "prompt": (
            "Review this content for {{ quality_criteria | join(', ') }} and score it 1-10:"
            "\n\n{{ content }}"
        ),
        "variables": [
            _var("content"),
            _var("quality_criteria", "array", default=["readability", "accuracy"]),
        ],
        "default_config": {"response_format": "json"},
        "output_schema": {"properties": {"score": {"type": "integer"},
                                         "notes": {"type": "string"}}},
        "tags": ["content", "workflow"],
    },
    {
        "name": "seo_optimizer",
        "description": "Workflow step: optimise a draft for keywords",
        "prompt": "Optimise this content for the keywords {{ keywords | join(', ') }}:\n\n"
                  "{{ content }}",
        "variables": [_var("content"), _var("keywords", "array")],
        "tags": ["content", "seo", "workflow"],
    },
    {
        "name": "simple_content_generator",
        "description": "Workflow fallback: a short piece on a topic",
        "prompt": "Write a short piece about {{ topic }}.",
        "variables": [_var("topic")],
        "tags": ["content", "workflow"],
    },
]


def seed_templates(ctx: ServerContext, account_id: str) -> int:
    now = to_micros(ctx.clock())
    created = 0
    for spec in DEMO_TEMPLATES:
        if ctx.templates.find_template_row(account_id, spec["name"]) is not None:
            continue
        ctx.templates.insert_template(
            TemplateRecord(
                id=ctx.ids.new("tmpl"),
                account_id=account_id,
                name=spec["name"],
                status="active",
                version="1.0",
                prompt=spec["prompt"],
                description=spec.get("description"),
                variables=spec.get("variables", []),
                default_config=spec.get("default_config"),
                tags=spec.get("tags", []),
                output_schema=spec.get("output_schema"),
                created_us=now,
                updated_us=now,
            )
        )
        created += 1
    return created
