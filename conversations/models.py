from django.db import models

from stores.models import Store


class ConversationConfiguration(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversation_configurations")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
