"""Owners, their shelves (a composite unique key), books on shelves (a cascade from the shelf,
a nullable FK to a co-author), tags (an M2M), and loans (a cascade from the book)."""

from __future__ import annotations

from django.db import models

# Every table of the app, as the ledger registers them (table, label).
TABLES = (
    ("toyapp_owner", "toyapp.Owner"),
    ("toyapp_shelf", "toyapp.Shelf"),
    ("toyapp_book", "toyapp.Book"),
    ("toyapp_tag", "toyapp.Tag"),
    ("toyapp_book_tags", "toyapp.Book.tags"),
    ("toyapp_loan", "toyapp.Loan"),
)


class Owner(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Shelf(models.Model):
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="shelves")
    name = models.CharField(max_length=50)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["owner", "name"], name="toyapp_shelf_owner_name"),
        )

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    label = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.label


class Book(models.Model):
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="books")
    coauthor = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.SET_NULL, related_name="coauthored"
    )
    title = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    tags = models.ManyToManyField(Tag, blank=True, related_name="books")

    def __str__(self) -> str:
        return self.title


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    borrower = models.CharField(max_length=50)

    def __str__(self) -> str:
        return f"{self.book_id} to {self.borrower}"
