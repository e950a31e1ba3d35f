"""The spec's Python examples, verbatim (copied from the spec by section), run against our
server. Only the key and the base URL differ: the SDK examples read the base URL from
PE_BASE_URL, and the raw-HTTP ones get the hosted URL and sample key replaced."""

from __future__ import annotations

# ruff: noqa: E501, W291, W293

QUICK_START = r'''from promptexecution import PromptExecutionClient

client = PromptExecutionClient(
    api_key='pe_sk_live_abc123def456ghi789',
    timeout=30,
    max_retries=3
)

# Simple execution
result = client.execute(
    template_id="greeting_template",
    variables={"name": "Alice"}
)
print(result.content)
'''

USE_CASE_1 = r'''from promptexecution import PromptExecutionClient
from promptexecution.exceptions import APIError

client = PromptExecutionClient(api_key='pe_sk_live_abc123def456ghi789')

def generate_blog_post(topic: str, keywords: list) -> dict:
    """Generate SEO-optimized blog post using template"""
    try:
        result = client.execute(
            template_id="blog_post_seo_v2",
            variables={
                "topic": topic,
                "keywords": keywords,
                "tone": "professional",
                "word_count": 1500
            },
            model_config={
                "temperature": 0.7,
                "max_tokens": 2000
            }
        )
        return result
    except APIError as e:
        print(f"Blog generation failed: {e}")
        raise

# Usage example
result = generate_blog_post(
    "AI in Healthcare",
    ["artificial intelligence", "medical diagnosis", "patient care"]
)
print(result.content)
'''

USE_CASE_2 = r'''from promptexecution import PromptExecutionClient
from promptexecution.exceptions import APIError, RateLimitError
import asyncio

class SupportAutomation:
    def __init__(self, api_key):
        self.client = PromptExecutionClient(api_key=api_key)
        
    async def classify_and_respond(self, customer_message, context):
        """Classify customer query and generate appropriate response"""
        
        try:
            # Step 1: Classify the query using async execution
            classification = await self.client.execute_async(
                template_id="support_classification_v3",
                variables={
                    "message": customer_message,
                    "customer_tier": context.get("tier", "standard")
                },
                model_config={
                    "temperature": 0.1  # Low temperature for consistent classification
                }
            )
            
            # Step 2: Generate response based on classification
            response = await self.client.execute_async(
                template_id=f"support_response_{classification['category']}",
                variables={
                    "message": customer_message,
                    "urgency": classification["urgency"],
                    "customer_name": context.get("name", "valued customer")
                }
            )
            
            return {
                "classification": classification,
                "response": response.content,
                "escalate": classification["urgency"] == "high"
            }
            
        except RateLimitError as e:
            # Handle rate limiting gracefully
            await asyncio.sleep(e.retry_after)
            return await self.classify_and_respond(customer_message, context)
        except APIError as e:
            print(f"Support automation error: {e}")
            return self._fallback_response(customer_message)
    
    def _fallback_response(self, message):
        """Fallback for API failures"""
        return {
            "classification": {"category": "general", "urgency": "medium"},
            "response": "Thank you for contacting us. A support representative will respond within 2 hours.",
            "escalate": True
        }

# Usage example
support = SupportAutomation("pe_sk_live_abc123def456ghi789")
result = await support.classify_and_respond(
    "My order hasn't arrived and I need it urgently for tomorrow",
    {"tier": "premium", "name": "Sarah Johnson"}
)
'''

USE_CASE_2_RAW = r'''import requests
import json

class SupportAutomation:
    def __init__(self, api_key):
        self.api_key = api_key
        self.base_url = "https://api.promptexecution.com/v2"
        
    def classify_and_respond(self, customer_message, context):
        """Classify customer query and generate appropriate response"""
        
        # Step 1: Classify the query
        classification = self.execute_prompt({
            "template_id": "support_classification_v3",
            "variables": {
                "message": customer_message,
                "customer_tier": context.get("tier", "standard")
            },
            "model_config": {
                "temperature": 0.1  # Low temperature for consistent classification
            }
        })
        
        # Step 2: Generate response based on classification
        response = self.execute_prompt({
            "template_id": f"support_response_{classification['category']}",
            "variables": {
                "message": customer_message,
                "urgency": classification["urgency"],
                "customer_name": context.get("name", "valued customer")
            }
        })
        
        return {
            "classification": classification,
            "response": response["content"],
            "escalate": classification["urgency"] == "high"
        }
    
    def execute_prompt(self, payload):
        """Helper method for API calls"""
        response = requests.post(
            f"{self.base_url}/execute",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json"
            },
            json=payload
        )
        return response.json()

# Usage example
support = SupportAutomation("pe_sk_live_abc123def456ghi789")
result = support.classify_and_respond(
    "My order hasn't arrived and I need it urgently for tomorrow",
    {"tier": "premium", "name": "Sarah Johnson"}
)
'''

BACKOFF_SECTION_6 = r'''import time
import random

def execute_with_backoff(payload, max_retries=5):
    """Execute API request with exponential backoff"""
    
    for attempt in range(max_retries):
        try:
            response = requests.post(
                "https://api.promptexecution.com/v2/execute",
                headers={"Authorization": f"Bearer {api_key}"},
                json=payload
            )
            
            if response.status_code == 429:
                # Rate limited - implement exponential backoff with jitter
                retry_after = int(response.headers.get('Retry-After', 60))
                jitter = random.uniform(0.1, 0.3) * retry_after
                sleep_time = min(retry_after + jitter, 300)  # Max 5 minutes
                
                print(f"Rate limited. Waiting {sleep_time:.1f} seconds...")
                time.sleep(sleep_time)
                continue
                
            response.raise_for_status()
            return response.json()
            
        except requests.exceptions.RequestException as e:
            if attempt == max_retries - 1:
                raise e
            
            # Exponential backoff for other errors
            wait_time = min(2 ** attempt + random.uniform(0, 1), 60)
            time.sleep(wait_time)
'''

OPTIMIZED_CLIENT_SECTION_8 = r'''import requests
from requests.adapters import HTTPAdapter
from requests.packages.urllib3.util.retry import Retry

class OptimizedAPIClient:
    def __init__(self, api_key):
        self.api_key = api_key
        self.base_url = "https://api.promptexecution.com/v2"
        
        # Configure connection pooling and retries
        self.session = requests.Session()
        
        # Retry strategy for transient failures
        retry_strategy = Retry(
            total=3,
            backoff_factor=1,
            status_forcelist=[429, 500, 502, 503, 504],
            allowed_methods=["GET", "POST"]
        )
        
        adapter = HTTPAdapter(
            pool_connections=20,  # Number of connection pools
            pool_maxsize=20,      # Connections per pool
            max_retries=retry_strategy
        )
        
        self.session.mount("https://", adapter)
        self.session.headers.update({
            'Authorization': f'Bearer {api_key}',
            'Content-Type': 'application/json',
            'Connection': 'keep-alive'
        })
    
    def execute_prompt(self, payload):
        """Execute prompt with optimized connection handling"""
        response = self.session.post(
            f"{self.base_url}/execute",
            json=payload,
            timeout=(5, 30)  # (connect timeout, read timeout)
        )
        response.raise_for_status()
        return response.json()
'''

USE_CASE_3 = r'''from promptexecution import PromptExecutionClient
from promptexecution.batch import BatchProcessor
import asyncio

# Initialize client with batch processing capabilities
client = PromptExecutionClient(api_key='pe_sk_live_abc123def456ghi789')
batch_processor = BatchProcessor(client)

async def process_customer_feedback(reviews_data):
    """Process large volume of customer reviews with sentiment analysis"""
    
    # Prepare batch inputs
    batch_inputs = [
        {
            "id": f"review_{review['id']}",
            "variables": {
                "review_text": review["text"],
                "product_category": review["category"]
            }
        }
        for review in reviews_data
    ]
    
    # Execute batch processing with progress tracking
    batch_result = await batch_processor.execute_batch(
        template_id="sentiment_analysis_detailed_v1",
        inputs=batch_inputs,
        model_config={
            "temperature": 0.3,
            "response_format": "structured"
        },
        options={
            "callback_url": "https://your-app.com/webhooks/batch-complete",
            "max_concurrent": 50,
            "retry_failed": True
        }
    )
    
    print(f"Batch submitted: {batch_result.batch_id}")
    print(f"Estimated completion: {batch_result.estimated_completion}")
    
    # Monitor progress
    async for progress in batch_processor.track_progress(batch_result.batch_id):
        print(f"Progress: {progress.completed}/{progress.total} completed")
        if progress.status == "completed":
            break
    
    # Retrieve results
    results = await batch_processor.get_results(batch_result.batch_id)
    return results

# Usage example
reviews = [
    {"id": 1, "text": "Great product, fast shipping!", "category": "electronics"},
    {"id": 2, "text": "Poor quality, disappointed", "category": "electronics"},
    # ... more reviews
]

results = await process_customer_feedback(reviews)
print(f"Processed {len(results.successful)} reviews successfully")
'''
