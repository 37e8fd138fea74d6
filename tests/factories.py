import factory
from django.contrib.auth import get_user_model

from accounts.models import Account, Membership, Role
from stores.models import Store
from workspace.services import store_create

PASSWORD = "correct-horse-battery-staple"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.SUPPORT


class AdminMembershipFactory(MembershipFactory):
    role = Role.ADMINISTRATOR


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Store {n}")

    @classmethod
    def _create(cls, model_class, *args, account, name, **kwargs):
        # Through the service, so a factory store is set up exactly like a console one.
        return store_create(account=account, actor=None, name=name, **kwargs)
