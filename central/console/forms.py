"""The console's forms (Flask-WTF): every one carries a CSRF token that is checked on submit."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class SignInForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=1024)])


class SignOutForm(FlaskForm):
    pass


class PersonForm(FlaskForm):
    kind = RadioField(choices=["qid", "id_number"], default="qid")
    value = StringField(validators=[DataRequired(), Length(max=40)])


class ResultsForm(FlaskForm):
    file = FileField()


class ExportForm(FlaskForm):
    format = SelectField(choices=["xlsx", "csv", "machine-csv", "jsonl"],
                         default="xlsx")
    columns = SelectField(choices=["vi", "en"], default="vi")
    since = DateField(validators=[Optional()])


class RetestForm(FlaskForm):
    pass
