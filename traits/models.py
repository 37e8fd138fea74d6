from django.db import models

from stores.models import Store


class TraitGroup(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="trait_groups")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    # Created with the store (Contact); cannot be deleted.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["store", "name"], name="trait_group_unique_in_store")]

    def __str__(self) -> str:
        return self.name


class DataType(models.TextChoices):
    STRING = "string", "String"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    ARRAY = "array", "Array"


class TraitGroupChangeError(Exception):
    """A trait's group is permanent: it can never be moved to another group."""


class Trait(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="traits")
    group = models.ForeignKey(TraitGroup, on_delete=models.CASCADE, related_name="traits")
    name = models.CharField(max_length=64)
    data_type = models.CharField(max_length=16, choices=DataType.choices, default=DataType.STRING)
    description = models.CharField(max_length=500, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "id"]
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="trait_unique_in_group")]

    def __str__(self) -> str:
        return f"{self.group.name}.{self.name}"

    def save(self, *args, **kwargs):
        original = getattr(self, "_original_group_id", None)
        if self.pk is not None and original is not None and self.group_id != original:
            raise TraitGroupChangeError(
                "A trait's group is permanent: delete the trait and add it to the other group instead."
            )
        super().save(*args, **kwargs)
        self._original_group_id = self.group_id

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._original_group_id = instance.__dict__.get("group_id")
        return instance

    @property
    def path(self) -> str:
        return f"{self.group.name}.{self.name}"
