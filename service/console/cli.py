"""`flask --app app create-officer`: the way the first officers get an account."""

import click
from flask import current_app
from flask.cli import with_appcontext

from service.console.accounts import MIN_PASSWORD_LENGTH, InvalidOfficer, create_officer
from store.models import OFFICER_ROLES


@click.command("create-officer")
@click.option("--email", required=True, help="What the officer signs in with.")
@click.option("--name", required=True, help="Shown to colleagues and in the audit trail.")
@click.option("--role", type=click.Choice(OFFICER_ROLES), default="officer", show_default=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help=f"At least {MIN_PASSWORD_LENGTH} characters. Asked for when left out; give it only in scripts.",
)
@with_appcontext
def create_officer_command(email, name, role, password):
    """Create an officer account for the console."""
    runtime = current_app.extensions["assistant"]
    try:
        officer = create_officer(runtime.sessions, email, name, role, password, runtime.clock())
    except InvalidOfficer as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Officer {officer.id} created ({officer.role}). They sign in at /console/sign-in.")
